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
    private static readonly object Gate = new();

    [UnmanagedCallersOnly(EntryPoint = "wfvae_set_log")]
    public static void SetLog(delegate* unmanaged[Cdecl]<byte*, void*, void> callback, void* user)
    {
        lock (Gate)
        {
            _callback = callback;
            _user = user;
        }
    }

    /// <summary>Passes one line to the host's callback as NUL-terminated UTF-8 (valid during the call only).</summary>
    public static void Write(string line)
    {
        lock (Gate)
        {
            if (_callback == null) return;
            int n = Encoding.UTF8.GetByteCount(line);
            Span<byte> bytes = n < 1024 ? stackalloc byte[n + 1] : new byte[n + 1];
            Encoding.UTF8.GetBytes(line, bytes);
            bytes[n] = 0;
            // The callback may call the plugin (other handles, wfvae_last_error): those calls must not leave their status
            // as the last error of the call being logged, which may still succeed.
            nint error = Exports.TakeError();
            try
            {
                fixed (byte* p = bytes) _callback(p, _user);
            }
            finally
            {
                Exports.RestoreError(error);
            }
        }
    }
}
