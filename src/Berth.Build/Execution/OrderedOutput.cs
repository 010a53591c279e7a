namespace Berth.Build.Execution;

/// <summary>
/// Keeps the output of stages that run in parallel in Dockerfile order: the earliest unfinished stage
/// writes through live, later ones are held until the stages before them finish. Slot -1 is the
/// build's own lines (global ARG steps, the final messages).
/// </summary>
internal sealed class OrderedOutput(Func<BuildMessage, ValueTask> sink)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<int, List<BuildMessage>> _held = [];
    private readonly HashSet<int> _done = [];
    private List<int> _order = [];
    private int _position;

    public void SetSlots(IEnumerable<int> slots)
    {
        _order = slots.ToList();
        foreach (var s in _order) _held[s] = [];
    }

    private int Current => _position < _order.Count ? _order[_position] : int.MinValue;

    public async ValueTask WriteAsync(int slot, BuildMessage message)
    {
        await _gate.WaitAsync();
        try
        {
            if (slot == -1 || slot == Current) await sink(message);
            else if (_held.TryGetValue(slot, out var list)) list.Add(message);
            else await sink(message);
        }
        finally { _gate.Release(); }
    }

    public async ValueTask CompleteAsync(int slot)
    {
        await _gate.WaitAsync();
        try
        {
            _done.Add(slot);
            while (_position < _order.Count && _done.Contains(_order[_position]))
            {
                _position++;
                if (_position < _order.Count) await DrainAsync(_order[_position]);
            }
        }
        finally { _gate.Release(); }
    }

    /// <summary>Writes everything still held, in order (after a failure).</summary>
    public async Task FlushAllAsync()
    {
        await _gate.WaitAsync();
        try
        {
            for (; _position < _order.Count; _position++) await DrainAsync(_order[_position]);
        }
        finally { _gate.Release(); }
    }

    private async ValueTask DrainAsync(int slot)
    {
        var list = _held[slot];
        foreach (var m in list) await sink(m);
        list.Clear();
    }
}
