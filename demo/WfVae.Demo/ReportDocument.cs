using System.Net;
using System.Text;

namespace WfVae.Demo;

/// <summary>
/// A small document (headings, paragraphs, notes, tables, an image) written once and rendered both as
/// Markdown and as self-contained HTML, so the two reports cannot drift apart.
/// Inline text may use **bold** and `code`, which both renderers understand.
/// </summary>
public sealed class ReportDocument
{
    private abstract record Block;
    private sealed record Heading(int Level, string Text) : Block;
    private sealed record Paragraph(string Text) : Block;
    private sealed record Note(string Text) : Block;
    private sealed record Bullets(IReadOnlyList<string> Items) : Block;
    private sealed record Table(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows) : Block;
    private sealed record Image(string Path, string Alt) : Block;

    private readonly List<Block> _blocks = new();
    public string Title { get; }

    public ReportDocument(string title) => Title = title;

    public void AddHeading(int level, string text) => _blocks.Add(new Heading(level, text));
    public void AddParagraph(string text) => _blocks.Add(new Paragraph(text));
    /// <summary>A highlighted remark (a Markdown quote, an HTML box).</summary>
    public void AddNote(string text) => _blocks.Add(new Note(text));
    public void AddBullets(IEnumerable<string> items) => _blocks.Add(new Bullets(items.ToList()));
    public void AddTable(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows) => _blocks.Add(new Table(header, rows.ToList()));
    public void AddImage(string relativePath, string alt) => _blocks.Add(new Image(relativePath, alt));

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("# ").Append(Title).Append("\n\n");
        foreach (var block in _blocks)
        {
            switch (block)
            {
                case Heading h: sb.Append('#', h.Level + 1).Append(' ').Append(h.Text).Append("\n\n"); break;
                case Paragraph p: sb.Append(p.Text).Append("\n\n"); break;
                case Note n: sb.Append("> ").Append(n.Text).Append("\n\n"); break;
                case Bullets b:
                    foreach (var item in b.Items) sb.Append("- ").Append(item).Append('\n');
                    sb.Append('\n');
                    break;
                case Table t:
                    sb.Append("| ").Append(string.Join(" | ", t.Header.Select(Cell))).Append(" |\n");
                    sb.Append('|').Append(string.Concat(t.Header.Select(_ => "---|"))).Append('\n');
                    foreach (var row in t.Rows) sb.Append("| ").Append(string.Join(" | ", row.Select(Cell))).Append(" |\n");
                    sb.Append('\n');
                    break;
                case Image i: sb.Append("![").Append(i.Alt).Append("](").Append(i.Path).Append(")\n\n"); break;
            }
        }
        return sb.ToString();
    }

    public string ToHtml()
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(Enc(Title)).Append("</title>\n");
        sb.Append("""
            <style>
            body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
            table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
            th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
            th { background: #f0f0f0; }
            code { background: #f4f4f4; padding: 0 0.2rem; }
            .note { border-left: 4px solid #d08000; background: #fff6e5; padding: 0.5rem 1rem; margin: 1rem 0; }
            img { image-rendering: pixelated; max-width: 100%; }
            </style>

            """);
        sb.Append("</head>\n<body>\n<h1>").Append(Enc(Title)).Append("</h1>\n");
        foreach (var block in _blocks)
        {
            switch (block)
            {
                case Heading h: sb.Append($"<h{h.Level + 1}>").Append(Inline(h.Text)).Append($"</h{h.Level + 1}>\n"); break;
                case Paragraph p: sb.Append("<p>").Append(Inline(p.Text)).Append("</p>\n"); break;
                case Note n: sb.Append("<div class=\"note\">").Append(Inline(n.Text)).Append("</div>\n"); break;
                case Bullets b:
                    sb.Append("<ul>\n");
                    foreach (var item in b.Items) sb.Append("<li>").Append(Inline(item)).Append("</li>\n");
                    sb.Append("</ul>\n");
                    break;
                case Table t:
                    sb.Append("<table>\n<tr>");
                    foreach (var c in t.Header) sb.Append("<th>").Append(Inline(c)).Append("</th>");
                    sb.Append("</tr>\n");
                    foreach (var row in t.Rows)
                    {
                        sb.Append("<tr>");
                        foreach (var c in row) sb.Append("<td>").Append(Inline(c)).Append("</td>");
                        sb.Append("</tr>\n");
                    }
                    sb.Append("</table>\n");
                    break;
                case Image i: sb.Append("<p><img src=\"").Append(Enc(i.Path)).Append("\" alt=\"").Append(Enc(i.Alt)).Append("\"></p>\n"); break;
            }
        }
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    // A pipe inside a Markdown table cell would end the cell.
    private static string Cell(string text) => text.Replace("|", "\\|").Replace("\n", " ");

    private static string Enc(string text) => WebUtility.HtmlEncode(text);

    /// <summary>HTML for the inline subset: **bold** and `code`; everything else is escaped.</summary>
    private static string Inline(string text)
    {
        var sb = new StringBuilder();
        bool bold = false;
        int i = 0;
        while (i < text.Length)
        {
            if (text[i] == '`')
            {
                int end = text.IndexOf('`', i + 1);
                if (end > i)
                {
                    sb.Append("<code>").Append(Enc(text[(i + 1)..end])).Append("</code>");
                    i = end + 1;
                    continue;
                }
            }
            if (i + 1 < text.Length && text[i] == '*' && text[i + 1] == '*')
            {
                sb.Append(bold ? "</strong>" : "<strong>");
                bold = !bold;
                i += 2;
                continue;
            }
            int next = i + 1;
            while (next < text.Length && text[next] != '`' && text[next] != '*') next++;
            sb.Append(Enc(text[i..next]));
            i = next;
        }
        if (bold) sb.Append("</strong>");
        return sb.ToString();
    }
}
