namespace WfVae.Frei0r;

/// <summary>
/// The plugins' only channel to the user: one line on stderr, prefixed with the plugin's name, which every
/// host passes to its log or terminal. Messages are flattened to one line; nothing else is written.
/// </summary>
internal static class HostLog
{
    private static readonly Lock Gate = new();

    public static void Line(string message)
    {
        string line = $"{PluginDefinition.Description.Name}: {message.ReplaceLineEndings(" ")}";
        try
        {
            lock (Gate) Console.Error.WriteLine(line);
        }
        catch (IOException)
        {
            // stderr closed by the host: there is nowhere left to report to, and the host must keep running.
        }
    }

    /// <summary>An exception as one line: the message, plus the type when it is not one of the expected kinds.</summary>
    public static string Describe(Exception e) => e switch
    {
        ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException or NotSupportedException
            or FormatException or InvalidDataException or WfVae.Runtime.VulkanException or WfVae.Runtime.NoVulkanDeviceException => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
