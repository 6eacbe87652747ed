using System.Runtime.InteropServices;

namespace WfVae.IO;

/// <summary>
/// What a command-line process does on SIGINT, SIGTERM and SIGHUP: delete the temporaries of outputs
/// that cannot be used (<see cref="OutputFile.Abandon"/>), print one line, and exit with 128 + the
/// signal number (130, 143, 129), as a shell reports a process the signal killed. A broken pipe is not
/// a signal in .NET (SIGPIPE is ignored; the write fails with EPIPE) and is handled where writes fail,
/// with <see cref="BrokenPipeExitCode"/>.
/// </summary>
public static class Interrupts
{
    public const int BrokenPipeExitCode = 128 + 13;

    /// <summary>
    /// Installs the handlers until the returned object is disposed. <paramref name="prefix"/> starts the
    /// line (e.g. "wfvae encode"); <paramref name="keptNote"/> describes temporaries kept on purpose.
    /// </summary>
    public static IDisposable Install(string prefix, TextWriter stderr, Func<IReadOnlyList<string>, string> keptNote)
    {
        if (OperatingSystem.IsWindows() || OperatingSystem.IsBrowser()) return new Registrations([]);
        var handlers = new (PosixSignal Signal, string Name, int Number)[]
        {
            (PosixSignal.SIGINT, "SIGINT", 2), (PosixSignal.SIGTERM, "SIGTERM", 15), (PosixSignal.SIGHUP, "SIGHUP", 1),
        };
        int signalled = 0;
        return new Registrations(handlers.Select(h => PosixSignalRegistration.Create(h.Signal, context =>
        {
            context.Cancel = true; // the process ends below, after the clean-up
            // The first signal decides the line and the exit code; a later one (timeout(1) signals twice, a second
            // Ctrl-C) arrives while the first is exiting and must not print a second line or change the code.
            if (Interlocked.Exchange(ref signalled, 1) != 0) return;
            var kept = OutputFile.Abandon();
            stderr.WriteLine($"{prefix}: interrupted by {h.Name}; unfinished outputs deleted{(kept.Count > 0 ? "; " + keptNote(kept) : "")}");
            stderr.Flush();
            Environment.Exit(128 + h.Number);
        })).ToList());
    }

    /// <summary>True for the failed write of a pipe or socket whose reader went away.</summary>
    public static bool IsBrokenPipe(Exception e) =>
        e is IOException io && (io.HResult == 32 || io.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase));

    private sealed class Registrations(List<PosixSignalRegistration> all) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in all) r.Dispose();
        }
    }
}
