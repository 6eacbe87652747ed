using WfVae.Demo;

return Demo.Run(args, Console.Out, Console.Error);
