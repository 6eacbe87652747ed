using System.Runtime.InteropServices;
using System.Text;

namespace WfVae.Plugin;

/// <summary>
/// The host's log callback (<c>wfvae_set_log</c>): the log sink of every device the plugin opens. Without one the
/// plugin is silent: nothing of the engine reaches the host's stderr.
/// </summary>
internal static unsafe class PluginLog
{
    private static delegate* unmanaged[Cdecl]<byte*, void*, void> _callback;
    private static void* _user;
    private static readonly object Gate = new(); // keeps the callback and its user pointer a pair

    [UnmanagedCallersOnly(EntryPoint = "wfvae_set_log")]
    public static void SetLog(delegate* unmanaged[Cdecl]<byte*, void*, void> callback, void* user)
    {
        Exports.ClearError(); // it cannot fail: "" afterwards, as after every call that succeeded
        lock (Gate)
        {
            _callback = callback;
            _user = user;
        }
    }

    /// <summary>
    /// Passes one line to the host's callback as NUL-terminated UTF-8 (valid during the call only). The callback is
    /// read at each line, so <c>wfvae_set_log</c> also redirects models already open. It runs outside
    /// <see cref="Gate"/>: a callback logging a push on one handle may call into another handle whose own push is
    /// logging, and with the gate held the two threads would wait for each other. So callbacks of different handles
    /// run at once, and one already running may outlast the <c>wfvae_set_log</c> that replaced it.
    /// </summary>
    public static void Write(string line)
    {
        delegate* unmanaged[Cdecl]<byte*, void*, void> callback;
        void* user;
        lock (Gate)
        {
            callback = _callback;
            user = _user;
        }
        if (callback == null) return;
        int n = Encoding.UTF8.GetByteCount(line);
        Span<byte> bytes = n < 1024 ? stackalloc byte[n + 1] : new byte[n + 1];
        Encoding.UTF8.GetBytes(line, bytes);
        bytes[n] = 0;
        // The callback may call the plugin (other handles, wfvae_last_error): those calls must not leave their status
        // as the last error of the call being logged, which may still succeed.
        nint error = Exports.TakeError();
        try
        {
            fixed (byte* p = bytes) callback(p, user);
        }
        finally
        {
            Exports.RestoreError(error);
        }
    }
}
