using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using WfVae.IO;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.IO;

/// <summary>write(2) to an inherited descriptor: what a pipe set non-blocking by its reader does to it.</summary>
public sealed unsafe partial class DescriptorStreamTests(ITestOutputHelper log)
{
    private const int Eagain = 11, FGetfl = 3, FSetfl = 4, FSetpipeSz = 1031, ONonblock = 0x800; // Linux values

    /// <summary>
    /// The pipe starts full and holds one page, so the write meets EAGAIN again and again while a reader drains it in
    /// small reads: every byte must still arrive, in order, instead of the run failing with "Resource temporarily
    /// unavailable".
    /// </summary>
    [Fact]
    public void ANonBlockingPipeGetsEveryByte()
    {
        if (!OperatingSystem.IsLinux()) { log.WriteLine("skipped: O_NONBLOCK and F_SETPIPE_SZ are given as Linux values"); return; }
        int* fds = stackalloc int[2];
        Assert.Equal(0, Pipe(fds));
        int readFd = fds[0], writeFd = fds[1];
        using var reader = new FileStream(new SafeFileHandle(readFd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        try
        {
            Fcntl(writeFd, FSetpipeSz, 4096); // a failure leaves the default size, which 1 MiB still overflows
            Assert.Equal(0, Fcntl(writeFd, FSetfl, Fcntl(writeFd, FGetfl, 0) | ONonblock));
            int prefill = FillUntilFull(writeFd);
            var payload = new byte[1 << 20];
            for (int i = 0; i < payload.Length; i++) payload[i] = (byte)(i * 131 + (i >> 12));

            var received = Task.Run(() => Drain(reader));
            new DescriptorStream(writeFd, "stdout").Write(payload);
            Close(writeFd);
            writeFd = -1;
            var all = received.Wait(TimeSpan.FromMinutes(1)) ? received.Result : throw new TimeoutException("the reader did not see the end of the pipe");
            Assert.Equal(prefill + payload.Length, all.Length);
            Assert.True(all.AsSpan(prefill).SequenceEqual(payload), "the bytes arrived changed or out of order");
        }
        finally
        {
            if (writeFd >= 0) Close(writeFd); // the reader then sees the end instead of waiting forever
        }
    }

    private static int FillUntilFull(int fd)
    {
        byte* chunk = stackalloc byte[512];
        int total = 0;
        while (true)
        {
            nint n = Write(fd, chunk, 512);
            if (n > 0) { total += (int)n; continue; }
            Assert.Equal(Eagain, Marshal.GetLastPInvokeError());
            return total;
        }
    }

    private static byte[] Drain(Stream reader)
    {
        var all = new MemoryStream();
        var small = new byte[700]; // odd-sized small reads: the writer keeps finding the pipe full
        for (int n; (n = reader.Read(small)) > 0;) all.Write(small, 0, n);
        return all.ToArray();
    }

    [LibraryImport("libc", EntryPoint = "pipe", SetLastError = true)]
    private static partial int Pipe(int* fds);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
