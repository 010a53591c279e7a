using Berth.Images;
using Berth.Oci.Content;
using Berth.Storage;

// A process for the crash-safety tests to SIGKILL part-way:
//   DATAROOT DRIVER            registers the layer tar read from stdin, prints the result (the storage tests).
//   import DATAROOT DRIVER     imports the rootfs tar read from stdin as image crash:latest.
//   ingest DATAROOT DRIVER     writes stdin to the content store as one blob, committed at end of input.
//   half-commit DATAROOT DRIVER  registers the layer tar from stdin and stores an image config, prints "ready"
//                              and waits: killed there, it leaves a layer and a blob that no image holds.
// The tests feed part of the input, wait until the work is under way, then SIGKILL this process.
var mode = args.Length == 3 ? args[0] : "layer";
var (dataRoot, driver) = args.Length == 3 ? (args[1], args[2]) : (args[0], args[1]);
var root = StorageRoot.Open(dataRoot, driver);
var stdin = Console.OpenStandardInput();
switch (mode)
{
    case "layer":
        Console.WriteLine(root.Layers.Register(stdin, Compression.Auto, null).ChainId);
        break;
    case "import":
    {
        var images = ImageStore.Open(Path.Combine(dataRoot, "images"), root);
        Console.WriteLine(new ImageCreation(images).Import(stdin, new ImportOptions { Reference = "crash:latest" }));
        break;
    }
    case "ingest":
    {
        using var writer = root.Content.OpenWriter("crash-ingest");
        stdin.CopyTo(writer.Stream);
        Console.WriteLine(writer.Commit());
        break;
    }
    case "half-commit":
    {
        var layer = root.Layers.Register(stdin, Compression.Auto, null);
        var config = System.Text.Encoding.UTF8.GetBytes(
            "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + layer.DiffId + "\"]}}");
        var digest = root.Content.PutAsync(new MemoryStream(config)).GetAwaiter().GetResult();
        Console.WriteLine("ready " + digest);
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
        break;
    }
    default:
        Console.Error.WriteLine($"unknown mode {mode}");
        return 2;
}
return 0;
