using System.Text;

namespace Llama2.Engine.Generation;

/// <summary>
/// Watches generated text for stop sequences. Text that could still turn out to be the start of one is held back;
/// everything else is released at once.
/// </summary>
public sealed class StopSequenceFilter(IReadOnlyList<string> stopSequences)
{
    readonly string[] _stops = stopSequences.Where(s => s.Length > 0).ToArray();
    readonly StringBuilder _pending = new();

    public bool IsEmpty => _stops.Length == 0;

    /// <summary>
    /// Adds text. Returns what may be emitted now; <paramref name="stopped"/> tells whether a stop sequence was
    /// completed (then the returned text is what came before it, and the rest is dropped).
    /// </summary>
    public string Push(string text, out bool stopped)
    {
        stopped = false;
        if (_stops.Length == 0) return text;
        _pending.Append(text);
        var pending = _pending.ToString();

        int stopAt = -1;
        foreach (var stop in _stops)
        {
            int i = pending.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0 && (stopAt < 0 || i < stopAt)) stopAt = i;
        }
        if (stopAt >= 0)
        {
            stopped = true;
            _pending.Clear();
            return pending[..stopAt];
        }

        int hold = 0; // longest suffix of pending that is a proper prefix of some stop sequence
        foreach (var stop in _stops)
            for (int len = Math.Min(stop.Length - 1, pending.Length); len > hold; len--)
                if (pending.AsSpan(pending.Length - len).SequenceEqual(stop.AsSpan(0, len)))
                {
                    hold = len;
                    break;
                }
        _pending.Clear().Append(pending, pending.Length - hold, hold);
        return pending[..^hold];
    }

    /// <summary>Releases whatever is held back (generation ended for another reason).</summary>
    public string Flush()
    {
        var rest = _pending.ToString();
        _pending.Clear();
        return rest;
    }
}
