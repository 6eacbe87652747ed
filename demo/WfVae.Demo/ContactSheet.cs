using WfVae.Model.Checkpoint;
namespace WfVae.Demo;

/// <summary>
/// The contact sheet: one row per clip (the input, then each device's reconstruction), one column per
/// chosen frame, tiles enlarged by an integer factor (nearest neighbour, so pixels stay honest) and
/// separated by a dark gap.
/// </summary>
public static class ContactSheet
{
    public const int Gap = 4;
    /// <summary>Tiles are enlarged until their longer side reaches about this many pixels.</summary>
    public const int TargetTile = 128;
    public const int MaxColumns = 5;
    private const byte Background = 40;

    /// <summary>Integer enlargement for frames of <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static int Scale(int width, int height) => Math.Max(1, TargetTile / Math.Max(width, height));

    /// <summary>Size of the sheet in pixels.</summary>
    public static (int Width, int Height) Size(int rows, int columns, int frameWidth, int frameHeight)
    {
        int s = Scale(frameWidth, frameHeight);
        return (columns * frameWidth * s + (columns + 1) * Gap, rows * frameHeight * s + (rows + 1) * Gap);
    }

    /// <summary>
    /// Up to <see cref="MaxColumns"/> frames spread evenly from the first to the last, on the 4-frame
    /// grid when the clip allows (17 frames: 0, 4, 8, 12, 16; 9 frames: 0, 4, 8).
    /// </summary>
    public static IReadOnlyList<int> Columns(int frames)
    {
        int columns = Math.Min(MaxColumns, WfVaeConfig.LatentFrames(frames));
        if (columns <= 1) return [0];
        return Enumerable.Range(0, columns).Select(k => (int)Math.Round(k * (frames - 1) / (double)(columns - 1))).ToList();
    }

    /// <summary>Draws the sheet as RGB24; each row is a list of frames (RGB24, <paramref name="width"/> x <paramref name="height"/>).</summary>
    public static byte[] Compose(IReadOnlyList<IReadOnlyList<byte[]>> rows, IReadOnlyList<int> columns, int width, int height)
    {
        int s = Scale(width, height);
        var (sheetW, sheetH) = Size(rows.Count, columns.Count, width, height);
        var sheet = new byte[sheetW * sheetH * 3];
        Array.Fill(sheet, Background);
        for (int r = 0; r < rows.Count; r++)
        {
            for (int c = 0; c < columns.Count; c++)
            {
                byte[] frame = rows[r][columns[c]];
                int x0 = Gap + c * (width * s + Gap), y0 = Gap + r * (height * s + Gap);
                for (int y = 0; y < height * s; y++)
                {
                    int dst = ((y0 + y) * sheetW + x0) * 3;
                    int srcRow = (y / s) * width * 3;
                    for (int x = 0; x < width * s; x++, dst += 3)
                    {
                        int src = srcRow + (x / s) * 3;
                        sheet[dst] = frame[src];
                        sheet[dst + 1] = frame[src + 1];
                        sheet[dst + 2] = frame[src + 2];
                    }
                }
            }
        }
        return sheet;
    }
}
