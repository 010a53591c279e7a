// berth-shim links berth-runtime's library: when berthd says the container's runtime is that berth-runtime
// (--linked-runtime), the delete at the end of the container runs here instead of in a process of its own.
return Berth.Shim.ContainerShim.Main(args, (root, id, log) =>
    Berth.Runtime.Lifecycle.LinkedRuntime.ForceDelete(Berth.Linux.LinuxSyscalls.Instance, root, id, log));
