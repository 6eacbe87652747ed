using WfVae.IO;
using WfVae.Tests.Checkpoint;
using Xunit;

namespace WfVae.Tests.IO;

/// <summary>The one output helper: what each kind of target gets, and what is left after failures.</summary>
public sealed class OutputFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ARegularFileIsReplacedOnlyByCommit()
    {
        var path = _dir.File("out.bin");
        File.WriteAllText(path, "old");
        using (var output = OutputFile.Create(path))
        {
            Assert.False(output.IsDirect);
            Assert.Matches(@"out\.bin\.[0-9a-f]{8}\.partial$", output.WritePath);
            output.Stream.Write("new"u8);
            Assert.Equal("old", File.ReadAllText(path));
            Assert.Equal([output.WritePath], OutputFile.TemporariesOf(path));
            output.Commit();
        }
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Empty(OutputFile.TemporariesOf(path));
    }

    [Fact]
    public void WithoutCommitTheTemporaryGoes_UnlessItIsKept()
    {
        var path = _dir.File("out.bin");
        using (var output = OutputFile.Create(path)) output.Stream.Write("x"u8);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir.Path));

        string kept;
        using (var output = OutputFile.Create(path))
        {
            output.KeepOnFailure = true;
            kept = output.WritePath;
        }
        Assert.True(File.Exists(kept));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void TwoWritersOfOneNameNeverShareBytes_TheLaterCommitWins()
    {
        var path = _dir.File("same.bin");
        using var a = OutputFile.Create(path);
        using var b = OutputFile.Create(path);
        Assert.NotEqual(a.WritePath, b.WritePath);
        a.Stream.Write(new byte[1000]);
        b.Stream.Write("b"u8);
        b.Commit();
        a.Commit();
        Assert.Equal(1000, new FileInfo(path).Length);
    }

    [Fact]
    public void LinksAreFollowedToTheirTargets_EvenDanglingOnes()
    {
        Directory.CreateDirectory(_dir.File("real"));
        File.CreateSymbolicLink(_dir.File("hop2"), "real/target.txt");
        File.CreateSymbolicLink(_dir.File("hop1"), _dir.File("hop2"));
        OutputFile.WriteAllText(_dir.File("hop1"), "through two links");
        Assert.Equal("through two links", File.ReadAllText(_dir.File("real/target.txt")));
        Assert.NotNull(new FileInfo(_dir.File("hop1")).LinkTarget);
        Assert.NotNull(new FileInfo(_dir.File("hop2")).LinkTarget);
    }

    [Fact]
    public void DevicesAndStandardStreamsAreWrittenInPlace()
    {
        using (var output = OutputFile.Create("/dev/null"))
        {
            Assert.True(output.IsDirect);
            output.Stream.Write(new byte[100]);
            output.Commit();
        }
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of("/dev/null"));
        using (var stdout = OutputFile.Create("-")) Assert.True(stdout.IsDirect);
        var full = OutputFile.Create("/dev/full");
        var e = Assert.ThrowsAny<IOException>(() =>
        {
            full.Stream.Write(new byte[1 << 17]);
            full.Commit();
        });
        full.Dispose();
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of("/dev/full"));
        Assert.NotNull(e.Message);
    }

    [Fact]
    public void FoldersAndMissingFoldersAreClearErrors()
    {
        var dir = Assert.Throws<IOException>(() => OutputFile.Create(_dir.Path));
        Assert.Contains("is a directory", dir.Message);
        var missing = Assert.Throws<DirectoryNotFoundException>(() => OutputFile.Create(_dir.File("no/such/out.bin")));
        Assert.Contains("does not exist", missing.Message);

        // Folders that take no new file, even from root: the error names the output and the folder, not the temporary.
        // Why differs by how /sys is mounted (permission denied, read-only file system): only the names are fixed.
        foreach (var path in new[] { "/proc/out.bin", "/sys/out.bin" })
        {
            var e = Assert.Throws<IOException>(() => OutputFile.Create(path));
            Assert.StartsWith($"cannot write '{path}': no file can be created in '{Path.GetDirectoryName(path)}' (", e.Message);
            Assert.DoesNotContain(".partial", e.Message);
        }
    }

    [Fact]
    public void FileKindsTellRegularFilesFromTheRest()
    {
        File.WriteAllText(_dir.File("f"), "");
        Assert.Equal(FileKind.Regular, FileKinds.Of(_dir.File("f")));
        Assert.Equal(FileKind.Directory, FileKinds.Of(_dir.Path));
        Assert.Equal(FileKind.Missing, FileKinds.Of(_dir.File("nothing")));
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of("/dev/zero"));
        var e = Assert.Throws<InvalidDataException>(() => InputFiles.ReadAllBytes("/dev/zero", 1024, "config"));
        Assert.Contains("character device", e.Message);
        File.WriteAllBytes(_dir.File("big"), new byte[2048]);
        Assert.Contains("the limit is 1024", Assert.Throws<InvalidDataException>(() => InputFiles.ReadAllBytes(_dir.File("big"), 1024, "config")).Message);
    }
}
