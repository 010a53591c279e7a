using System.Text.Json.Serialization;
using Berth.Engine.Models;

namespace Berth.Engine.Models
{
    public sealed class VolumeListResponse
    {
        public List<Volume> Volumes { get; set; } = [];
        public List<string> Warnings { get; set; } = [];
    }

    public sealed class VolumeCreateRequest
    {
        public string? Name { get; set; }
        public string? Driver { get; set; }
        public Dictionary<string, string>? DriverOpts { get; set; }
        public Dictionary<string, string>? Labels { get; set; }
    }

    public sealed class VolumePruneResponse
    {
        public List<string> VolumesDeleted { get; set; } = [];
        public long SpaceReclaimed { get; set; }
    }

    [JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
    [JsonSerializable(typeof(Volume))]
    [JsonSerializable(typeof(VolumeListResponse))]
    [JsonSerializable(typeof(VolumeCreateRequest))]
    [JsonSerializable(typeof(VolumePruneResponse))]
    public sealed partial class VolumeJsonContext : JsonSerializerContext;
}

namespace Berth.Engine.Volumes
{
    /// <summary>The /volumes routes as the engine serves them.</summary>
    public interface IVolumeService
    {
        Task<VolumeListResponse> ListAsync(Filters filters, CancellationToken cancellationToken);
        Task<Volume> CreateAsync(VolumeCreateRequest request, CancellationToken cancellationToken);
        Task<Volume> InspectAsync(string name, CancellationToken cancellationToken);
        Task RemoveAsync(string name, bool force, CancellationToken cancellationToken);
        Task<VolumePruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken);
    }

    /// <summary>Docker's volume API over a <see cref="VolumeStore"/>: shapes, filters and error classes.</summary>
    public sealed class VolumeService(VolumeStore store) : IVolumeService
    {
        public VolumeStore Store => store;

        public Task<VolumeListResponse> ListAsync(Filters filters, CancellationToken cancellationToken)
        {
            foreach (var key in filters.Values.Keys)
                if (key is not ("dangling" or "driver" or "label" or "name")) throw new InvalidParameterException($"invalid filter '{key}'");
            var list = store.List().Where(v => Matches(v, filters)).Select(v => store.ToModel(v)).ToList();
            return Task.FromResult(new VolumeListResponse { Volumes = list });
        }

        public Task<Volume> CreateAsync(VolumeCreateRequest request, CancellationToken cancellationToken)
            => Task.FromResult(store.ToModel(store.Create(request.Name, request.Driver, request.DriverOpts, request.Labels)));

        public Task<Volume> InspectAsync(string name, CancellationToken cancellationToken)
            => Task.FromResult(store.ToModel(store.Get(name)));

        public Task RemoveAsync(string name, bool force, CancellationToken cancellationToken)
        {
            store.Remove(name, force);
            return Task.CompletedTask;
        }

        public Task<VolumePruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken)
        {
            foreach (var key in filters.Values.Keys)
                if (key is not ("label" or "label!" or "all")) throw new InvalidParameterException($"invalid filter '{key}'");
            var all = filters.Get("all").Any(v => v is "true" or "1");
            var (names, reclaimed) = store.Prune(all, v => LabelsMatch(v.Labels, filters.Get("label"), true) && !LabelsMatch(v.Labels, filters.Get("label!"), false));
            return Task.FromResult(new VolumePruneResponse { VolumesDeleted = names, SpaceReclaimed = reclaimed });
        }

        private static bool Matches(VolumeRecord v, Filters f)
        {
            if (f.Has("name") && !f.Get("name").Any(n => v.Name.Contains(n, StringComparison.Ordinal))) return false;
            if (f.Has("driver") && !f.Get("driver").Contains(v.Driver)) return false;
            if (f.Has("dangling"))
            {
                var value = f.Get("dangling")[0];
                if (value is not ("true" or "false" or "1" or "0")) throw new InvalidParameterException($"invalid filter 'dangling={value}'");
                if ((v.UsedBy.Count == 0) != (value is "true" or "1")) return false;
            }
            return LabelsMatch(v.Labels, f.Get("label"), true);
        }

        private static bool LabelsMatch(Dictionary<string, string> labels, IReadOnlyList<string> wanted, bool anyIfEmpty)
        {
            if (wanted.Count == 0) return anyIfEmpty;
            foreach (var w in wanted)
            {
                var eq = w.IndexOf('=');
                if (!(eq < 0 ? labels.ContainsKey(w) : labels.TryGetValue(w[..eq], out var value) && value == w[(eq + 1)..])) return false;
            }
            return true;
        }
    }

    /// <summary>Every volume operation answers 501 (an engine built without the volumes room).</summary>
    public sealed class UnavailableVolumes : IVolumeService
    {
        public static readonly UnavailableVolumes Instance = new();
        private static NotImplementedYetException Missing => new("volumes");
        public Task<VolumeListResponse> ListAsync(Filters filters, CancellationToken cancellationToken) => throw Missing;
        public Task<Volume> CreateAsync(VolumeCreateRequest request, CancellationToken cancellationToken) => throw Missing;
        public Task<Volume> InspectAsync(string name, CancellationToken cancellationToken) => throw Missing;
        public Task RemoveAsync(string name, bool force, CancellationToken cancellationToken) => throw Missing;
        public Task<VolumePruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken) => throw Missing;
    }
}
