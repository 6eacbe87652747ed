// Placeholder entry point so the solution builds; the real CLI replaces this file.
Console.Error.WriteLine("wfvae: not implemented yet");
return 1;
