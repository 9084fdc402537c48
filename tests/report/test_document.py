from vaeadv.report.document import Document, Figure, Heading, Missing, Para, Table, to_html, to_markdown
from vaeadv.vae.viz import save_image


def test_markdown_and_html_show_tables_figures_and_missing(tmp_path):
    import torch

    save_image(torch.rand(1, 8, 8), tmp_path / "figs" / "a.png")
    doc = Document("T")
    doc.add(Heading("H"), Para("x **bold** `code` <tag>"), Table(["a", "b"], [["1", "2"]], "cap"),
            Figure("figs/a.png", "here"), Figure("figs/none.png", "gone"), Missing("result x", "run it"))
    md = to_markdown(doc, tmp_path)
    assert "| a | b |" in md and "![here](figs/a.png)" in md
    assert "Figure missing:** gone" in md and "**Missing:** result x. run it" in md
    html = to_html(doc, tmp_path)
    assert "<strong>bold</strong>" in html and "&lt;tag&gt;" in html and "<code>code</code>" in html
    assert html.count("data:image/png;base64,") == 1 and "Figure missing" in html
