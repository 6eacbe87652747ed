namespace WfVae.Model.Checkpoint;

/// <summary>
/// Common base of every "the files on disk are wrong" error of this layer, so a caller can tell bad
/// input from bugs with one catch. (System.IO.InvalidDataException is sealed and cannot serve as the
/// base; FormatException carries the same meaning.)
/// </summary>
public abstract class InvalidModelDataException : FormatException
{
    protected InvalidModelDataException(string message) : base(message) { }
    protected InvalidModelDataException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A safetensors file that is malformed; the message names the file and the problem.</summary>
public sealed class SafetensorsFormatException : InvalidModelDataException
{
    public SafetensorsFormatException(string message) : base(message) { }
    public SafetensorsFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A config.json that is malformed or asks for a model this engine does not support.</summary>
public sealed class ConfigException : InvalidModelDataException
{
    public ConfigException(string message) : base(message) { }
    public ConfigException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Weights that do not match the config. All problems of one file are collected so a user fixing a
/// conversion script sees every wrong key at once, not one per attempt.
/// </summary>
public sealed class CheckpointException : InvalidModelDataException
{
    public CheckpointException(string message, IReadOnlyList<string> problems) : base(message)
    {
        Problems = problems;
    }

    public CheckpointException(string message) : this(message, new[] { message }) { }

    /// <summary>One line per problem, each naming the key.</summary>
    public IReadOnlyList<string> Problems { get; }
}
