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
    static abstract void Store(float* p, TVec v);
    static abstract TVec Broadcast(float value);
    /// <summary>a · b + c, rounded once.</summary>
    static abstract TVec Fma(TVec a, TVec b, TVec c);
    /// <summary>The sum of the lanes, always in the same order (a fixed halving tree).</summary>
    static abstract float Sum(TVec v);
    static abstract TVec Add(TVec a, TVec b);
    static abstract TVec Multiply(TVec a, TVec b);
}

internal unsafe struct Ops512 : IVectorOps<Vector512<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    public static int Width => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Ops256.Sum(v.GetLower() + v.GetUpper());
}

internal unsafe struct Ops256 : IVectorOps<Vector256<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    public static int Width => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v) => Ops128.Sum(v.GetLower() + v.GetUpper());
}

internal unsafe struct Ops128 : IVectorOps<Vector128<float>>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    public static int Width => 4;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector128<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => (v.GetElement(0) + v.GetElement(2)) + (v.GetElement(1) + v.GetElement(3));
}

internal unsafe struct OpsScalar : IVectorOps<float>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Multiply(float a, float b) => a * b;
    public static int Width => 1;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
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
