using WfVae.Cli;

return CommandLine.Run(args);
