namespace WfVae.Media;

/// <summary>A media input or output could not be opened, decoded, encoded or written; the message names it.</summary>
public sealed class MediaException : Exception
{
    public MediaException(string message) : base(message) { }
    public MediaException(string message, Exception? inner) : base(message, inner) { }
}
