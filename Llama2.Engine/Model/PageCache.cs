using System.Runtime.InteropServices;

namespace Llama2.Engine.Model;

/// <summary>
/// How the operating system caches and maps a checkpoint's pages. Decoding streams every weight once per token, so
/// the page size matters: mapped with 2 MiB pages (one TLB entry per 2 MiB instead of per 4 KiB, which counts double
/// in a virtual machine) the weights stream nearly twice as fast as with 4 KiB pages. Linux gives a file mapping
/// 2 MiB pages when the mapping asks for them (<see cref="PreferHugePages"/>) and the file is read into the page
/// cache after that, so freshly written files are dropped from the cache (<see cref="Evict"/>) rather than left there
/// in 4 KiB pages. The sequences' key/value caches (anonymous memory) ask for 2 MiB pages too. Elsewhere these are
/// no-ops.
/// </summary>
public static unsafe partial class PageCache
{
    const int MadvHugePage = 14, FadvDontNeed = 4;

    /// <summary>Asks for 2 MiB pages on a range of memory, a file mapping or not (madvise MADV_HUGEPAGE). Best effort.</summary>
    public static void PreferHugePages(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return;
        long pageSize = Environment.SystemPageSize;
        nint first = (nint)((long)start & ~(pageSize - 1));
        try
        {
            _ = Madvise(first, (nuint)(length + ((long)start - first)), MadvHugePage); // refused on kernels without THP: fine
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    /// <summary>
    /// Writes a file's dirty pages to disk and drops its pages from the cache, so that the next mapping reads it
    /// afresh (in huge pages when it asks for them). For files this process has just written. Best effort.
    /// </summary>
    public static void Evict(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            file.Flush(flushToDisk: true);
            int fd = (int)file.SafeFileHandle.DangerousGetHandle();
            _ = Fdatasync(fd);
            _ = PosixFadvise(fd, 0, 0, FadvDontNeed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "fdatasync")]
    private static partial int Fdatasync(int fd);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);
}
