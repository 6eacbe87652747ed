namespace WfVae.Runtime;

/// <summary>
/// The user's cache folder for the engine's own files (pipeline caches, the bench's random checkpoints):
/// <c>$XDG_CACHE_HOME/wfvae</c>, else <c>~/.cache/wfvae</c> as the XDG base-directory convention has it; on Windows
/// <c>%LOCALAPPDATA%\wfvae</c>. Everything in it can be deleted and is rebuilt on demand.
/// </summary>
public static class UserCache
{
    public static string Folder => Resolve(Environment.GetEnvironmentVariable("XDG_CACHE_HOME"), DefaultRoot());

    /// <summary>The folder for an <c>XDG_CACHE_HOME</c> value (null or empty when unset) and the system's default root.</summary>
    public static string Resolve(string? xdgCacheHome, string defaultRoot) =>
        Path.Combine(string.IsNullOrEmpty(xdgCacheHome) ? defaultRoot : xdgCacheHome, "wfvae");

    /// <summary>
    /// Deletes the files of <paramref name="folder"/> that match <paramref name="pattern"/> and were not written for
    /// <paramref name="age"/>, except <paramref name="keep"/>: a driver update starts a new pipeline cache under a new
    /// name, and the old ones would pile up. Best effort: a file that cannot be read or deleted is left.
    /// </summary>
    public static void PruneStale(string folder, string pattern, TimeSpan age, string keep)
    {
        try
        {
            var (cutoff, kept) = (DateTime.UtcNow - age, Path.GetFullPath(keep));
            foreach (var file in Directory.EnumerateFiles(folder, pattern))
            {
                if (Path.GetFullPath(file) == kept || File.GetLastWriteTimeUtc(file) >= cutoff) continue;
                try { File.Delete(file); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static string DefaultRoot() => OperatingSystem.IsWindows()
        ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify)
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify), ".cache");
}
