using System.Runtime.InteropServices;

namespace WfVae.IO;

/// <summary>
/// Writes to an inherited descriptor (standard output or error) with write(2), at the descriptor's own offset. A
/// FileStream on a descriptor that is a regular file (<c>wfvae ... - &gt; file</c>) writes at a position it keeps
/// itself and leaves the descriptor's offset where it was, so whatever was written to the same descriptor afterwards
/// (the shell's next command in <c>{ ...; } &gt; file</c>) landed inside the output. Failures keep their errno in
/// <see cref="Exception.HResult"/> (EPIPE: <see cref="Interrupts.IsBrokenPipe"/>). A non-blocking descriptor (a pipe
/// whose reader set O_NONBLOCK on its shared file description) refuses a write while full: the write waits in poll(2)
/// for room instead of failing the run.
/// </summary>
internal sealed unsafe partial class DescriptorStream(int descriptor, string name) : Stream
{
    private const int Eintr = 4;
    private static readonly int Eagain = OperatingSystem.IsLinux() ? 11 : 35; // EWOULDBLOCK is the same on both
    private const short Pollout = 4;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() { } // nothing is buffered

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            for (int done = 0; done < data.Length;)
            {
                nint n = WriteNative(descriptor, start + done, data.Length - done);
                if (n > 0)
                {
                    done += (int)n;
                    continue;
                }
                // POSIX leaves a zero count for a non-zero request undefined; retrying it would spin forever.
                if (n == 0) throw new IOException($"cannot write {name}: write(2) accepted no bytes");
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Eagain) WaitWritable();
                else if (errno != Eintr) throw Failure(errno);
            }
        }
    }

    /// <summary>Blocks until the descriptor takes more bytes (or reports an error, which the next write returns).</summary>
    private void WaitWritable()
    {
        var fd = new PollFd { Descriptor = descriptor, Events = Pollout };
        while (Poll(&fd, 1, -1) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Eintr) throw Failure(errno);
        }
    }

    private IOException Failure(int errno) => new($"cannot write {name}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteNative(int fd, byte* buffer, nint count);

    private struct PollFd
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }

    // nfds_t is unsigned long on Linux and unsigned int on macOS: a native-width count is read right by both.
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeoutMs);
}
