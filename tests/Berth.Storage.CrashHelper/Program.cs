using Berth.Storage;

// berth-storage-crash-helper DATAROOT DRIVER: registers the layer tar read from stdin, prints the result.
// The crash tests feed half a tar, wait until the unpack is under way, then SIGKILL this process.
var root = StorageRoot.Open(args[0], args[1]);
var layer = root.Layers.Register(Console.OpenStandardInput(), Compression.Auto, null);
Console.WriteLine(layer.ChainId);
