using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Llama2.Engine.Kernels;

namespace Llama2.Engine.Sampling;

/// <summary>
/// Picks tokens from logits exactly as run.c's sampler: argmax at temperature 0; otherwise divide by temperature,
/// softmax, draw one coin, then multinomial or top-p with run.c's cutoff and order. Top-k and the repetition, presence
/// and frequency penalties are extras applied to the logits first, and change nothing when off; so is reporting the
/// most likely tokens (<see cref="TopLogprobs"/>). Allocates only at construction (and a scratch
/// buffer per thread on first use).
/// </summary>
public sealed class Sampler
{
    readonly SamplingOptions _options;
    readonly float[]? _topKScratch;
    readonly int[]? _seen;
    readonly TokenLogprob[]? _top;
    int _stamp;
    XorShiftRandom _random;

    public Sampler(int vocabSize, SamplingOptions options)
    {
        _options = options;
        // xorshift never leaves state 0, so seed 0 would draw coin 0 for ever; run.c never uses it (0 means "clock").
        _random = new XorShiftRandom(options.Seed == 0 ? ZeroSeedReplacement : options.Seed);
        if (options.TopK > 0 && options.TopK < vocabSize) _topKScratch = new float[vocabSize];
        if (options.RepetitionPenalty != 1f || HasOpenAIPenalties(options)) _seen = new int[vocabSize];
        if (options.TopLogprobs > 0) _top = new TokenLogprob[Math.Min(options.TopLogprobs, vocabSize)];
    }

    /// <summary>The state seed 0 starts from instead (any fixed non-zero value keeps seed 0 reproducible).</summary>
    public const ulong ZeroSeedReplacement = 0x9E3779B97F4A7C15;

    public SamplingOptions Options => _options;

    /// <summary>
    /// After <see cref="Sample(Span{float}, ReadOnlySpan{int}, int, out float)"/>: the
    /// <see cref="SamplingOptions.TopLogprobs"/> most likely tokens (most likely first, ties in id order) with their
    /// log-probabilities, under the distribution the pick was drawn from; empty when not asked for. Overwritten by the
    /// next call.
    /// </summary>
    public ReadOnlySpan<TokenLogprob> TopLogprobs => _top;

    /// <summary>
    /// Picks the next token, every token of <paramref name="history"/> counting as generated (for the presence and
    /// frequency penalties). See <see cref="Sample(Span{float}, ReadOnlySpan{int}, int, out float)"/>.
    /// </summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history, out float logprob) =>
        Sample(logits, history, history.Length, out logprob);

    /// <summary>
    /// Picks the next token. <paramref name="logits"/> is overwritten (with probabilities when sampling).
    /// <paramref name="history"/> is the sequence so far (for the repetition penalty), of which the last
    /// <paramref name="generated"/> tokens are this generation's own (for the presence and frequency penalties).
    /// <paramref name="logprob"/> is the log-probability of the pick under the distribution it was drawn from
    /// (temperature 1 for greedy). With <see cref="SamplingOptions.TopLogprobs"/>, <see cref="TopLogprobs"/> then holds
    /// the most likely tokens of that same distribution.
    /// </summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history, int generated, out float logprob)
    {
        if (_options.RepetitionPenalty != 1f) ApplyRepetitionPenalty(logits, history, _options.RepetitionPenalty);
        if (HasOpenAIPenalties(_options)) ApplyOpenAIPenalties(logits, history[^Math.Min(generated, history.Length)..]);
        if (_topKScratch is not null) KeepTopK(logits, _options.TopK, _topKScratch);

        if (_options.IsGreedy)
        {
            int best = TensorPrimitives.IndexOfMax(logits);
            // log softmax of the pick, vectorized: it is only reported, so it need not match run.c's scalar expf.
            TensorPrimitives.Subtract(logits, logits[best], logits);
            TensorPrimitives.Exp(logits, logits);
            float logSum = MathF.Log(TensorPrimitives.Sum(logits));
            logprob = MathF.Log(logits[best]) - logSum; // logits[best] is exp(0), which the vector exp may round
            if (_top is not null) FindTopLogprobs(logits, logSum, _top);
            return best;
        }

        TensorPrimitives.Divide(logits, _options.Temperature, logits);
        Softmax(logits);
        float coin = _random.NextSingle();
        float topP = _options.TopP;
        int next = topP <= 0 || topP >= 1 ? SampleMultinomial(logits, coin) : SampleTopP(logits, topP, coin);
        logprob = MathF.Log(logits[next]);
        if (_top is not null) FindTopLogprobs(logits, 0f, _top);
        return next;
    }

    /// <summary>
    /// Advances the random generator as <paramref name="count"/> samples would, for picks that are thrown away (run.c's
    /// chat loop samples after every prompt token too). Greedy sampling draws nothing, so then it does nothing.
    /// </summary>
    public void SkipDraws(int count)
    {
        if (_options.IsGreedy) return;
        for (int i = 0; i < count; i++) _random.NextSingle();
    }

    /// <summary>run.c's softmax, bit for bit (the same as attention's, <see cref="Ops.Softmax"/>).</summary>
    public static void Softmax(Span<float> x) => Ops.Softmax(x);

    static int SampleMultinomial(ReadOnlySpan<float> probabilities, float coin)
    {
        float cdf = 0f;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cdf += probabilities[i];
            if (coin < cdf) return i;
        }
        return probabilities.Length - 1; // rounding errors
    }

    /// <summary>
    /// Samples from the smallest set of most likely tokens whose probabilities exceed <paramref name="topP"/>.
    /// Tokens below (1 − topP)/(n − 1) cannot be in that set, so they are dropped before sorting, as run.c does.
    /// </summary>
    int SampleTopP(ReadOnlySpan<float> probabilities, float topP, float coin)
    {
        float cutoff = (1.0f - topP) / (probabilities.Length - 1);
        if (_sortScratch is null || _sortScratch.Length < 2 * probabilities.Length) _sortScratch = new ulong[2 * probabilities.Length];
        var all = _sortScratch.AsSpan();
        var digitCounts = (_digitCounts ??= new int[RadixPasses * RadixBuckets]).AsSpan();
        digitCounts.Clear();
        int count = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            if (probabilities[i] < cutoff) continue;
            ulong key = CandidateKey(probabilities[i], i);
            all[count++] = key;
            for (int pass = 0; pass < RadixPasses; pass++) digitCounts[pass * RadixBuckets + Digit(key, pass)]++;
        }

        // Descending probability; ties keep index order, as glibc's (merge sort) qsort leaves them.
        var candidates = all[..count];
        SortByKey(candidates, all.Slice(probabilities.Length, count), digitCounts);

        // run.c sums the sorted probabilities until they pass topP, then walks the same sums again until they pass
        // r; the sums are kept (in the scratch, which the sort no longer needs) so that the walk is a binary search.
        var sums = MemoryMarshal.Cast<ulong, float>(all.Slice(probabilities.Length, count));
        float cumulative = 0f;
        int last = count - 1;
        for (int i = 0; i < count; i++)
        {
            cumulative += ProbabilityOf(candidates[i]);
            sums[i] = cumulative;
            if (cumulative > topP)
            {
                last = i;
                break;
            }
        }

        // The first of the sums up to `last` above r (they never decrease), else the last candidate (rounding).
        float r = coin * cumulative;
        int lo = 0, hi = last + 1;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (r < sums[mid]) hi = mid;
            else lo = mid + 1;
        }
        return IndexOf(candidates[Math.Min(lo, last)]);
    }

    // Shared by the samplers of a thread (sequences sample on the kernel threads): 2 × vocab keys, and the radix
    // sort's digit counts.
    [ThreadStatic] static ulong[]? _sortScratch;
    [ThreadStatic] static int[]? _digitCounts;

    /// <summary>
    /// A candidate as one integer that sorts in the order top-p wants: the high half is the probability's bits
    /// inverted (for a non-negative float the bits grow with the value, so inverted they shrink), the low half the index.
    /// </summary>
    static ulong CandidateKey(float probability, int index) =>
        (ulong)~(uint)BitConverter.SingleToInt32Bits(probability) << 32 | (uint)index;

    static int IndexOf(ulong key) => (int)(uint)key;

    static float ProbabilityOf(ulong key) => BitConverter.UInt32BitsToSingle(~(uint)(key >> 32));

    // The sort key's high 32 bits in three digits of 11, 11 and 10 bits: three passes where bytes took four.
    const int RadixPasses = 3, RadixBits = 11, RadixBuckets = 1 << RadixBits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Digit(ulong key, int pass) => (int)(key >> (32 + RadixBits * pass)) & (RadixBuckets - 1);

    /// <summary>
    /// Stable LSD radix sort on the high 32 bits, given each pass's digit counts (counted while the candidates were
    /// gathered); a pass where every key has the same digit is skipped. Candidates arrive in index order, so ties
    /// stay in index order. A comparison sort of a flat distribution's ~30000 candidates took over a millisecond per
    /// token, bytes (four passes) about 170 µs; with 11-bit digits a whole top-p draw over a flat 32000-token
    /// distribution went from 300–350 to 250–295 µs.
    /// </summary>
    static void SortByKey(Span<ulong> items, Span<ulong> scratch, Span<int> digitCounts)
    {
        int n = items.Length;
        if (n < 2) return;
        Span<ulong> from = items, to = scratch;
        bool inScratch = false;
        for (int pass = 0; pass < RadixPasses; pass++)
        {
            var offsets = digitCounts.Slice(pass * RadixBuckets, RadixBuckets);
            if (offsets[Digit(from[0], pass)] == n) continue;
            for (int b = 0, sum = 0; b < RadixBuckets; b++)
            {
                int c = offsets[b];
                offsets[b] = sum;
                sum += c;
            }
            foreach (ulong item in from) to[offsets[Digit(item, pass)]++] = item;
            var t = from;
            from = to;
            to = t;
            inScratch = !inScratch;
        }
        if (inScratch) from.CopyTo(items);
    }

    /// <summary>HF-style: each distinct token already in the sequence has its logit pushed towards "less likely" once.</summary>
    void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> history, float penalty)
    {
        _stamp++; // tokens whose _seen entry equals _stamp were already penalised in this call
        foreach (int token in history)
        {
            if ((uint)token >= (uint)logits.Length || _seen![token] == _stamp) continue;
            _seen[token] = _stamp;
            logits[token] = logits[token] > 0 ? logits[token] / penalty : logits[token] * penalty;
        }
    }

    static bool HasOpenAIPenalties(SamplingOptions options) => options.PresencePenalty != 0f || options.FrequencyPenalty != 0f;

    /// <summary>
    /// OpenAI's penalties, on the logits: each token this generation produced loses the frequency penalty once per
    /// occurrence and the presence penalty once (logit − frequency × count − presence × (count &gt; 0)).
    /// </summary>
    void ApplyOpenAIPenalties(Span<float> logits, ReadOnlySpan<int> generated)
    {
        _stamp++; // tokens whose _seen entry equals _stamp already lost the presence penalty in this call
        float presence = _options.PresencePenalty, frequency = _options.FrequencyPenalty;
        foreach (int token in generated)
        {
            if ((uint)token >= (uint)logits.Length) continue;
            logits[token] -= frequency;
            if (_seen![token] == _stamp) continue;
            _seen[token] = _stamp;
            logits[token] -= presence;
        }
    }

    /// <summary>
    /// Fills <paramref name="top"/> with the largest of <paramref name="weights"/> (probabilities, or values
    /// proportional to them whose sum's log is <paramref name="logSum"/>) as log-probabilities, largest first and ties
    /// in index order: one pass that keeps the best so far in order, which only the rare newcomer above the last shifts.
    /// </summary>
    static void FindTopLogprobs(ReadOnlySpan<float> weights, float logSum, TokenLogprob[] top)
    {
        int k = top.Length, count = 0;
        Span<float> best = stackalloc float[k];
        Span<int> ids = stackalloc int[k];
        for (int i = 0; i < weights.Length; i++)
        {
            float w = weights[i];
            if (count == k && !(w > best[k - 1])) continue;
            int at = count < k ? count++ : k - 1;
            while (at > 0 && w > best[at - 1])
            {
                best[at] = best[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }
            best[at] = w;
            ids[at] = i;
        }
        for (int j = 0; j < count; j++) top[j] = new TokenLogprob(ids[j], MathF.Log(best[j]) - logSum);
    }

    static void KeepTopK(Span<float> logits, int k, float[] scratch)
    {
        logits.CopyTo(scratch);
        var sorted = scratch.AsSpan(0, logits.Length);
        sorted.Sort(static (a, b) => b.CompareTo(a));
        float threshold = sorted[k - 1];
        // Keep exactly k: those above the threshold, then ties at the threshold in index order.
        int above = 0;
        foreach (float l in logits) if (l > threshold) above++;
        int tiesToKeep = k - above;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] > threshold) continue;
            if (logits[i] == threshold && tiesToKeep > 0) { tiesToKeep--; continue; }
            logits[i] = float.NegativeInfinity;
        }
    }
}
