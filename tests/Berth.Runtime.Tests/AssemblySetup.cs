using System.Runtime.CompilerServices;
using Berth.Testing;

namespace Berth.Runtime.Tests;

internal static class AssemblySetup
{
    /// <summary>Many tests here run containers from runc's default config, under the shared "berth" parent cgroup.</summary>
    [ModuleInitializer]
    internal static void RemoveSharedCgroupParentAtExit() => SharedCgroupParent.RemoveWhenEmptyAtExit();
}
