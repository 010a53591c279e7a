using Berth.Oci.Content;
using Berth.Registry.Storage;

namespace Berth.Registry;

/// <summary>What a garbage collection found and removed.</summary>
public sealed record GcReport(int Manifests, int MarkedBlobs, IReadOnlyList<Digest> Deleted, long BytesFreed);

/// <summary>
/// Mark and sweep over the registry's storage (distribution's garbage-collect): marks every manifest
/// revision of every repository, the config and layers of each image manifest, the children of each index
/// and each referrer; then deletes the blobs nobody marked. It is safe beside a serving registry: uploads in
/// progress live apart from blobs and are never touched, and a blob whose data or whose repository link was
/// written after the mark began (a finished upload, a mount, a manifest PUT that references it) is kept.
/// </summary>
public sealed class GarbageCollector(IStorageDriver driver, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Filesystem timestamps may be coarse: anything this close to the mark's start counts as new.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(2);

    public GcReport Collect(bool dryRun, Action<string>? log = null)
    {
        var markStarted = _clock.GetUtcNow() - Slack;
        var marked = new HashSet<Digest>();
        var store = new RegistryStore(driver);
        var manifests = 0;
        foreach (var repository in store.Catalog())
        {
            foreach (var algorithm in driver.List($"{RegistryPaths.Repositories}/{repository}/_manifests/revisions"))
                foreach (var hex in driver.List(RegistryPaths.Revisions(repository, algorithm)))
                {
                    if (!Digest.TryParse(algorithm + ":" + hex, out var digest)) continue;
                    if (driver.Stat(RegistryPaths.RevisionLink(repository, digest)) is null) continue;
                    manifests++;
                    marked.Add(digest);
                    log?.Invoke($"{repository}: marking manifest {digest}");
                    var bytes = driver.GetContent(RegistryPaths.Blob(digest));
                    if (bytes is null) continue;
                    RegistryStore.ParsedManifest parsed;
                    try { parsed = RegistryStore.ParseManifest(bytes, null); }
                    catch (RegistryException) { continue; }
                    foreach (var blob in parsed.Blobs) { marked.Add(blob); log?.Invoke($"{repository}: marking blob {blob}"); }
                    foreach (var child in parsed.Children) marked.Add(child);
                    if (parsed.Subject is { } subject) marked.Add(subject);
                }
            // Referrers point at subjects by digest; the referrers themselves are revisions (marked above).
        }

        // What was linked or written since the mark began is in use by someone the mark could not see.
        var recent = RecentlyLinked(store, markStarted);
        var deleted = new List<Digest>();
        long freed = 0;
        foreach (var algorithm in driver.List(RegistryPaths.Blobs))
            foreach (var prefix in driver.List($"{RegistryPaths.Blobs}/{algorithm}"))
                foreach (var hex in driver.List($"{RegistryPaths.Blobs}/{algorithm}/{prefix}"))
                {
                    if (!Digest.TryParse(algorithm + ":" + hex, out var digest) || marked.Contains(digest) || recent.Contains(digest)) continue;
                    var entry = driver.Stat(RegistryPaths.Blob(digest));
                    if (entry is { } e && e.ModifiedAt >= markStarted) continue;
                    deleted.Add(digest);
                    freed += entry?.Size ?? 0;
                    log?.Invoke($"blob eligible for deletion: {digest}");
                    if (!dryRun) driver.Delete(RegistryPaths.BlobDirectory(digest));
                }
        if (!dryRun && deleted.Count > 0)
        {
            // Links to deleted blobs go too, unless one was renewed meanwhile.
            var gone = deleted.ToHashSet();
            foreach (var repository in store.Catalog())
                foreach (var algorithm in driver.List($"{RegistryPaths.Repositories}/{repository}/_layers"))
                    foreach (var hex in driver.List(RegistryPaths.LayerLinks(repository, algorithm)))
                        if (Digest.TryParse(algorithm + ":" + hex, out var d) && gone.Contains(d)
                            && driver.Stat(RegistryPaths.LayerLink(repository, d)) is { } link && link.ModifiedAt < markStarted)
                            driver.Delete($"{RegistryPaths.LayerLinks(repository, algorithm)}/{hex}");
        }
        return new GcReport(manifests, marked.Count, deleted, freed);
    }

    private HashSet<Digest> RecentlyLinked(RegistryStore store, DateTimeOffset since)
    {
        var recent = new HashSet<Digest>();
        foreach (var repository in store.Catalog())
        {
            foreach (var algorithm in driver.List($"{RegistryPaths.Repositories}/{repository}/_layers"))
                foreach (var hex in driver.List(RegistryPaths.LayerLinks(repository, algorithm)))
                    if (Digest.TryParse(algorithm + ":" + hex, out var d) && driver.Stat(RegistryPaths.LayerLink(repository, d)) is { } e && e.ModifiedAt >= since)
                        recent.Add(d);
            foreach (var algorithm in driver.List($"{RegistryPaths.Repositories}/{repository}/_manifests/revisions"))
                foreach (var hex in driver.List(RegistryPaths.Revisions(repository, algorithm)))
                    if (Digest.TryParse(algorithm + ":" + hex, out var d) && driver.Stat(RegistryPaths.RevisionLink(repository, d)) is { } e && e.ModifiedAt >= since)
                    {
                        recent.Add(d);
                        if (driver.GetContent(RegistryPaths.Blob(d)) is { } bytes)
                        {
                            try
                            {
                                var parsed = RegistryStore.ParseManifest(bytes, null);
                                recent.UnionWith(parsed.Blobs);
                                recent.UnionWith(parsed.Children);
                            }
                            catch (RegistryException) { }
                        }
                    }
        }
        return recent;
    }
}
