using System.Runtime.InteropServices;

namespace ActorVault.Memory.Interop;

/// <summary>
/// Unix-domain socket calls of the standalone host's agent socket: raw descriptors, because .NET's
/// <c>Socket</c> cannot pass descriptors (<c>SCM_RIGHTS</c>) and would read into managed buffers.
/// </summary>
internal static unsafe partial class Libc
{
    internal const int AF_UNIX = 1;
    internal const int SOCK_STREAM = 1;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int SOL_SOCKET = 1;
    internal const int SO_PEERCRED = 17;
    internal const int SO_RCVTIMEO = 20;
    internal const int SO_SNDTIMEO = 21;
    internal const int SCM_RIGHTS = 1;
    internal const int MSG_NOSIGNAL = 0x4000;
    internal const int MSG_CTRUNC = 0x8;
    internal const int MSG_CMSG_CLOEXEC = 0x40000000;
    internal const int SHUT_RDWR = 2;
    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;

    internal const int EPIPE = 32;
    internal const int EADDRINUSE = 98;
    internal const int ECONNRESET = 104;
    internal const int ECONNREFUSED = 111;
    internal const int EWOULDBLOCK = EAGAIN;

    /// <summary>sockaddr_un's path: 108 bytes including the terminating NUL.</summary>
    internal const int UnixPathMax = 108;

    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CMsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int connect(int fd, byte* address, uint length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int bind(int fd, byte* address, uint length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int listen(int fd, int backlog);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int accept4(int fd, byte* address, uint* length, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint sendmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial nint recvmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int getsockopt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int setsockopt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int shutdown(int fd, int how);

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int flock(int fd, int operation);

    [LibraryImport(Lib)]
    internal static partial int umask(int mask);

    /// <summary>Fills a sockaddr_un for <paramref name="path"/>; false when the path does not fit.</summary>
    internal static bool TryUnixAddress(string path, byte* address, out uint length)
    {
        int bytes = System.Text.Encoding.UTF8.GetByteCount(path);
        length = 0;
        if (bytes == 0 || bytes >= UnixPathMax || path.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        new Span<byte>(address, 2 + UnixPathMax).Clear();
        *(ushort*)address = AF_UNIX;
        System.Text.Encoding.UTF8.GetBytes(path, new Span<byte>(address + 2, UnixPathMax));
        length = (uint)(2 + bytes + 1);
        return true;
    }
}
