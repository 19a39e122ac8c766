using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Llama2.Engine.Kernels;

/// <summary>
/// The few vector operations the kernels use, for one vector width. The kernels are written once, generic over this
/// interface; the JIT compiles a separate copy for each width (struct type arguments), with every call inlined.
/// </summary>
internal unsafe interface IVectorOps<TVec> where TVec : struct
{
    static abstract int Width { get; }
    static abstract TVec Zero { get; }
    static abstract TVec Load(float* p);
    /// <summary>Width bfloat16 values widened to floats (<see cref="Widening"/>).</summary>
    static abstract TVec LoadBFloat16(ushort* p);
    /// <summary>Width fp16 values widened to floats (<see cref="Widening"/>).</summary>
    static abstract TVec LoadHalf(ushort* p);
    static abstract void Store(float* p, TVec v);
    static abstract TVec Broadcast(float value);
    /// <summary>a · b + c, rounded once.</summary>
    static abstract TVec Fma(TVec a, TVec b, TVec c);
    /// <summary>The sum of the lanes, always in the same order (a fixed halving tree).</summary>
    static abstract float Sum(TVec v);
    static abstract TVec Add(TVec a, TVec b);
    static abstract TVec Multiply(TVec a, TVec b);
    static abstract TVec Divide(TVec a, TVec b);
    /// <summary>
    /// Width rows of Width floats (<paramref name="stride"/> apart) into <paramref name="destination"/> transposed:
    /// element j of row r to destination[j · Width + r] (<see cref="Transposes"/>).
    /// </summary>
    static abstract void LoadTransposed(float* source, long stride, float* destination);
    /// <summary>
    /// sum + Σ_i q[i] · column i, the columns those of the Width rows of Width floats at <paramref name="source"/>
    /// (<paramref name="stride"/> apart): lane r gets q · row r added term by term in order, a product then a sum.
    /// </summary>
    static abstract TVec AddDotsInOrder(float* source, long stride, float* q, TVec sum);
}

internal unsafe struct Ops512 : IVectorOps<Vector512<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadTransposed(float* source, long stride, float* destination)
    {
        if (!Transposes.IsAccelerated(16))
        {
            Transposes.Portable(source, stride, destination, 16);
            return;
        }
        Vector512<int> r0 = Row(0), r1 = Row(1), r2 = Row(2), r3 = Row(3), r4 = Row(4), r5 = Row(5), r6 = Row(6), r7 = Row(7);
        Vector512<int> r8 = Row(8), r9 = Row(9), r10 = Row(10), r11 = Row(11), r12 = Row(12), r13 = Row(13), r14 = Row(14), r15 = Row(15);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
            ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15);
        int* d = (int*)destination;
        r0.Store(d); r1.Store(d + 16); r2.Store(d + 32); r3.Store(d + 48); r4.Store(d + 64); r5.Store(d + 80); r6.Store(d + 96); r7.Store(d + 112);
        r8.Store(d + 128); r9.Store(d + 144); r10.Store(d + 160); r11.Store(d + 176); r12.Store(d + 192); r13.Store(d + 208); r14.Store(d + 224); r15.Store(d + 240);

        Vector512<int> Row(int r) => Vector512.Load((int*)(source + r * stride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddDotsInOrder(float* source, long stride, float* q, Vector512<float> sum)
    {
        if (!Transposes.IsAccelerated(16))
        {
            float* columns = stackalloc float[256];
            Transposes.Portable(source, stride, columns, 16);
            for (int i = 0; i < 16; i++) sum += Vector512.Create(q[i]) * Vector512.Load(columns + 16 * i);
            return sum;
        }
        Vector512<int> r0 = Row(0), r1 = Row(1), r2 = Row(2), r3 = Row(3), r4 = Row(4), r5 = Row(5), r6 = Row(6), r7 = Row(7);
        Vector512<int> r8 = Row(8), r9 = Row(9), r10 = Row(10), r11 = Row(11), r12 = Row(12), r13 = Row(13), r14 = Row(14), r15 = Row(15);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
            ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15);
        sum += Vector512.Create(q[0]) * r0.AsSingle(); sum += Vector512.Create(q[1]) * r1.AsSingle();
        sum += Vector512.Create(q[2]) * r2.AsSingle(); sum += Vector512.Create(q[3]) * r3.AsSingle();
        sum += Vector512.Create(q[4]) * r4.AsSingle(); sum += Vector512.Create(q[5]) * r5.AsSingle();
        sum += Vector512.Create(q[6]) * r6.AsSingle(); sum += Vector512.Create(q[7]) * r7.AsSingle();
        sum += Vector512.Create(q[8]) * r8.AsSingle(); sum += Vector512.Create(q[9]) * r9.AsSingle();
        sum += Vector512.Create(q[10]) * r10.AsSingle(); sum += Vector512.Create(q[11]) * r11.AsSingle();
        sum += Vector512.Create(q[12]) * r12.AsSingle(); sum += Vector512.Create(q[13]) * r13.AsSingle();
        sum += Vector512.Create(q[14]) * r14.AsSingle(); sum += Vector512.Create(q[15]) * r15.AsSingle();
        return sum;

        Vector512<int> Row(int r) => Vector512.Load((int*)(source + r * stride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    public static int Width => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LoadBFloat16(ushort* p) => Widening.BFloat16x16(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LoadHalf(ushort* p) => Widening.Halfx16(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Ops256.Sum(v.GetLower() + v.GetUpper());
}

internal unsafe struct Ops256 : IVectorOps<Vector256<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadTransposed(float* source, long stride, float* destination)
    {
        if (!Transposes.IsAccelerated(8))
        {
            Transposes.Portable(source, stride, destination, 8);
            return;
        }
        Vector256<int> r0 = Row(0), r1 = Row(1), r2 = Row(2), r3 = Row(3), r4 = Row(4), r5 = Row(5), r6 = Row(6), r7 = Row(7);
        Transposes.Square(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        int* d = (int*)destination;
        r0.Store(d); r1.Store(d + 8); r2.Store(d + 16); r3.Store(d + 24); r4.Store(d + 32); r5.Store(d + 40); r6.Store(d + 48); r7.Store(d + 56);

        Vector256<int> Row(int r) => Vector256.Load((int*)(source + r * stride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddDotsInOrder(float* source, long stride, float* q, Vector256<float> sum)
    {
        float* columns = stackalloc float[64];
        LoadTransposed(source, stride, columns);
        for (int i = 0; i < 8; i++) sum += Vector256.Create(q[i]) * Vector256.Load(columns + 8 * i);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    public static int Width => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LoadBFloat16(ushort* p) => Widening.BFloat16x8(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LoadHalf(ushort* p) => Widening.Halfx8(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v) => Ops128.Sum(v.GetLower() + v.GetUpper());
}

internal unsafe struct Ops128 : IVectorOps<Vector128<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadTransposed(float* source, long stride, float* destination)
    {
        if (!Transposes.IsAccelerated(4))
        {
            Transposes.Portable(source, stride, destination, 4);
            return;
        }
        Vector128<int> r0 = Vector128.Load((int*)source), r1 = Vector128.Load((int*)(source + stride));
        Vector128<int> r2 = Vector128.Load((int*)(source + 2 * stride)), r3 = Vector128.Load((int*)(source + 3 * stride));
        Transposes.Square(ref r0, ref r1, ref r2, ref r3);
        int* d = (int*)destination;
        r0.Store(d); r1.Store(d + 4); r2.Store(d + 8); r3.Store(d + 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AddDotsInOrder(float* source, long stride, float* q, Vector128<float> sum)
    {
        float* columns = stackalloc float[16];
        LoadTransposed(source, stride, columns);
        for (int i = 0; i < 4; i++) sum += Vector128.Create(q[i]) * Vector128.Load(columns + 4 * i);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;
    public static int Width => 4;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LoadBFloat16(ushort* p) => Widening.BFloat16x4(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LoadHalf(ushort* p) => Widening.Halfx4(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector128<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => (v.GetElement(0) + v.GetElement(2)) + (v.GetElement(1) + v.GetElement(3));
}

internal unsafe struct OpsScalar : IVectorOps<float>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void LoadTransposed(float* source, long stride, float* destination) => *destination = *source;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AddDotsInOrder(float* source, long stride, float* q, float sum) => sum + *q * *source;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Multiply(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Divide(float a, float b) => a / b;
    public static int Width => 1;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LoadBFloat16(ushort* p) => BitConverter.UInt32BitsToSingle((uint)*p << 16);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LoadHalf(ushort* p) => (float)BitConverter.UInt16BitsToHalf(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, float v) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Broadcast(float value) => value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(float v) => v;
}

/// <summary>
/// A kernel written once, generic over the vector operations; <see cref="Simd.Dispatch"/> runs the copy for one width.
/// Implemented by small structs that carry the kernel's arguments: the JIT compiles a specialised copy of
/// <see cref="Run"/> for each width, and a dispatch costs a switch, with no allocation and no delegate.
/// </summary>
internal interface IWidthKernel
{
    void Run<TVec, TOps>() where TVec : struct where TOps : struct, IVectorOps<TVec>;
}

/// <summary>The vector width the kernels use, chosen once at start-up from what the CPU accelerates.</summary>
public static class Simd
{
    /// <summary>Floats per vector: 16 (AVX-512), 8 (AVX2), 4 (SSE/NEON) or 1 (scalar).</summary>
    public static readonly int Width =
        Vector512.IsHardwareAccelerated ? 16 :
        Vector256.IsHardwareAccelerated ? 8 :
        Vector128.IsHardwareAccelerated ? 4 : 1;

    public static string Name => Width switch { 16 => "Vector512", 8 => "Vector256", 4 => "Vector128", _ => "scalar" };

    /// <summary>
    /// Runs <paramref name="kernel"/> at <paramref name="width"/> floats per vector: 16, 8 or 4, anything else scalar.
    /// The one place a run-time width becomes the type arguments of a kernel (tests pass each width in turn).
    /// </summary>
    internal static void Dispatch<TKernel>(int width, ref TKernel kernel) where TKernel : struct, IWidthKernel
    {
        switch (width)
        {
            case 16: kernel.Run<Vector512<float>, Ops512>(); break;
            case 8: kernel.Run<Vector256<float>, Ops256>(); break;
            case 4: kernel.Run<Vector128<float>, Ops128>(); break;
            default: kernel.Run<float, OpsScalar>(); break;
        }
    }
}
