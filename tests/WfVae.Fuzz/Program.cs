using SharpFuzz;
using WfVae.Fuzz;

// wfvae-fuzz <target>                 under afl-fuzz (SharpFuzz's forkserver; build.ps1 fuzz runs it)
// wfvae-fuzz <target> --replay <path> runs files (or every file of a folder) once, uninstrumented
if (args.Length == 0 || !FuzzTargets.All.ContainsKey(args[0]))
{
    Console.Error.WriteLine($"usage: wfvae-fuzz <{string.Join("|", FuzzTargets.All.Keys)}> [--replay <file|folder>]");
    return 2;
}
var target = args[0];
if (args.Length == 3 && args[1] == "--replay")
{
    var files = Directory.Exists(args[2]) ? Directory.GetFiles(args[2]) : [args[2]];
    foreach (var file in files) FuzzTargets.Run(target, File.ReadAllBytes(file));
    Console.WriteLine($"{target}: {files.Length} inputs, no unexpected exception");
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    FuzzTargets.Run(target, buffer.ToArray());
});
return 0;
