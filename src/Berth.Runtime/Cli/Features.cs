using System.Text;
using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Rootfs;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime.Cli;

/// <summary>
/// `features`: what this runtime implements, in the shape of runc's `features` (runtime-spec features.md). Built from
/// the tables the runtime itself uses (capabilities, mount options, namespaces, seccomp), so it cannot claim more
/// or less than the code does.
/// </summary>
public static class Features
{
    public static readonly string[] Hooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

    public static string Json
    {
        get
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("ociVersionMin", "1.0.0");
                w.WriteString("ociVersionMax", "1.1.0");
                Strings(w, "hooks", Hooks);
                Strings(w, "mountOptions", MountOptions.KnownNames.Distinct().Order(StringComparer.Ordinal));
                w.WriteStartObject("linux");
                Strings(w, "namespaces", Namespaces.All.Select(n => n.SpecType).Order(StringComparer.Ordinal));
                Strings(w, "capabilities", CapabilityNames.All);
                w.WriteStartObject("cgroup");
                w.WriteBoolean("v1", true);
                w.WriteBoolean("v2", true);
                w.WriteBoolean("systemd", false); // systemd-style cgroupsPath is mapped to a path; no systemd units
                w.WriteBoolean("systemdUser", false);
                w.WriteBoolean("rdma", false);
                w.WriteEndObject();
                w.WriteStartObject("seccomp");
                w.WriteBoolean("enabled", true);
                Strings(w, "actions", SeccompFilter.KnownActions);
                Strings(w, "operators", SeccompFilter.KnownOperators);
                Strings(w, "archs", SeccompArchitecture.All.Select(a => a.Name).Order(StringComparer.Ordinal));
                Strings(w, "knownFlags", SeccompFilter.KnownFlags);
                Strings(w, "supportedFlags", SeccompFilter.KnownFlags);
                w.WriteEndObject();
                w.WriteStartObject("apparmor");
                w.WriteBoolean("enabled", false);
                w.WriteEndObject();
                w.WriteStartObject("selinux");
                w.WriteBoolean("enabled", false);
                w.WriteEndObject();
                w.WriteStartObject("intelRdt");
                w.WriteBoolean("enabled", false);
                w.WriteEndObject();
                w.WriteStartObject("mountExtensions");
                w.WriteStartObject("idmap");
                w.WriteBoolean("enabled", false);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteStartObject("annotations");
                w.WriteString("io.berth.runtime.version", RuntimeCli.Version);
                w.WriteString("io.berth.runtime.seccomp", "built-in BPF compiler (no libseccomp)");
                w.WriteEndObject();
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
        }
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
