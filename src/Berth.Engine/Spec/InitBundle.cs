using System.Runtime.InteropServices;
using OciMount = Berth.Oci.Runtime.Mount;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// berth-init (src/berth-init) and what it needs to run inside any image, even one without a libc (busybox):
/// it is a NativeAOT program linked against glibc whose ELF interpreter is <see cref="LoaderPath"/> and whose
/// RPATH is <see cref="Directory"/>, so bind-mounting the host's loader, libc and libm there read-only (in the
/// container's /dev tmpfs, so nothing appears in the image's filesystem) makes it start with the host's own,
/// matching glibc whatever the image holds. DT_RPATH (not RUNPATH) is searched before LD_LIBRARY_PATH, so an
/// image's LD_LIBRARY_PATH cannot slip another libc under it.
/// </summary>
public sealed record InitBundle(string InitPath, IReadOnlyList<(string HostPath, string ContainerPath)> Libraries)
{
    /// <summary>Where the loader and libraries appear inside the container.</summary>
    public const string Directory = "/dev/.berth-init";

    /// <summary>berth-init's PT_INTERP (set by its link flags).</summary>
    public const string LoaderPath = Directory + "/ld.so";

    private static readonly string[] LibraryDirectories =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

    /// <summary>
    /// The bundle for the berth-init at <paramref name="initPath"/>, with the host's loader, libc and libm; null
    /// when the file or one of them is missing.
    /// </summary>
    public static InitBundle? Find(string initPath)
    {
        if (!File.Exists(initPath)) return null;
        var loaderName = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "ld-linux-aarch64.so.1" : "ld-linux-x86-64.so.2";
        var libraries = new List<(string, string)>();
        // The loader twice: as the ELF interpreter, and under its soname, which berth-init also lists as NEEDED.
        foreach (var (name, inContainer) in new[] { (loaderName, LoaderPath), (loaderName, Directory + "/" + loaderName),
                     ("libc.so.6", Directory + "/libc.so.6"), ("libm.so.6", Directory + "/libm.so.6") })
        {
            var found = LibraryDirectories.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
            if (found is null) return null;
            libraries.Add((found, inContainer));
        }
        return new InitBundle(Path.GetFullPath(initPath), libraries);
    }

    /// <summary>The read-only binds of the loader and libraries.</summary>
    public IEnumerable<OciMount> SupportMounts()
        => Libraries.Select(l => new OciMount { Destination = l.ContainerPath, Type = "bind", Source = l.HostPath, Options = ["rbind", "ro", "nosuid", "nodev", "rprivate"] });
}
