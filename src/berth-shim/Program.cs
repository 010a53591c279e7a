return Berth.Shim.ContainerShim.Main(args);
