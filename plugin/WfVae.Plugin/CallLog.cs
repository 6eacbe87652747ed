using System.Collections.Concurrent;

namespace WfVae.Plugin;

/// <summary>
/// One handle's log sink. The engine may log from its worker threads (parallel pipeline builds, validation messages
/// raised there); those lines wait here while a call on the handle runs and reach the host's callback on that call's
/// thread as the call ends, still inside it. So the callback always runs on the thread of the call being logged, where
/// a call back into the same handle is refused instead of waiting for the call that waits for the worker.
/// </summary>
internal sealed class CallLog
{
    private readonly ConcurrentQueue<string> _fromWorkers = new();
    private int _callThread; // managed id of the thread inside a call on the handle; 0 between calls

    public void Write(string line)
    {
        int inside = Volatile.Read(ref _callThread);
        if (inside != 0 && inside != Environment.CurrentManagedThreadId) _fromWorkers.Enqueue(line);
        else PluginLog.Write(line);
    }

    /// <summary>Marks the current thread as the one inside a call (under the handle's lock) until the scope ends.</summary>
    public Scope Call()
    {
        Volatile.Write(ref _callThread, Environment.CurrentManagedThreadId);
        return new Scope(this);
    }

    public readonly struct Scope(CallLog log) : IDisposable
    {
        public void Dispose()
        {
            Volatile.Write(ref log._callThread, 0);
            while (log._fromWorkers.TryDequeue(out var line)) PluginLog.Write(line);
        }
    }
}
