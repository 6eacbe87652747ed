using WfVae.Cli;

// Signals end the process here (not in CommandLine.Run, which tests call in-process): temporaries of
// unfinished outputs are deleted, a latent stream that holds chunks is kept, and one line says so.
using var interrupts = WfVae.IO.Interrupts.Install(args.Length > 0 ? $"wfvae {args[0]}" : "wfvae", Console.Error, CommandLine.KeptNote);
return CommandLine.Run(args);
