from vaeadv.cli import main

raise SystemExit(main())
