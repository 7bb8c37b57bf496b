using System.Runtime.InteropServices;
using System.Text;
using ActorVault.Memory.Interop;
using ActorVault.Memory.Readers;

namespace ActorVault.Memory.Processes;

/// <summary>
/// Hands a secret to another program the way <c>actorvault exec</c> does: the bytes go from secret
/// memory into a pipe with write(2) (never through a managed buffer), the pipe's read end becomes the
/// command's descriptor <c>N</c> (0 = its standard input), and the command is started with
/// posix_spawn with default signal dispositions and an empty signal mask. The pipe is filled and
/// closed before the command starts, so the command reads the secret and then end of input. What the
/// command does with the bytes is its business; the pipe's kernel buffer is freed when it is read
/// or when the command exits.
/// </summary>
public static unsafe class SecretHandoff
{
    /// <summary>A pipe holds 64 KiB before write(2) blocks; secrets are far smaller.</summary>
    public const int MaxSecretBytes = 65536;

    /// <summary>
    /// Starts <paramref name="command"/> (looked up in PATH) with <paramref name="arguments"/>, the
    /// secret readable on <paramref name="descriptor"/>; returns the child's pid. The caller's buffer is
    /// not zeroed (it owns it). Throws <see cref="FileNotFoundException"/> when the command is not in
    /// PATH, <see cref="UnauthorizedAccessException"/> when it is not executable, <see cref="IOException"/>
    /// (with errno) when the pipe or the spawn fails.
    /// </summary>
    public static int Start(SecretBuffer secret, int descriptor, string command, IReadOnlyList<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentException.ThrowIfNullOrEmpty(command);
        ArgumentNullException.ThrowIfNull(arguments);
        if (descriptor is < 0 or > 1023)
        {
            throw new ArgumentOutOfRangeException(nameof(descriptor), descriptor, "The descriptor must be 0–1023.");
        }

        if (secret.Length > MaxSecretBytes)
        {
            throw new ArgumentException($"A secret handed over a pipe is at most {MaxSecretBytes} bytes, not {secret.Length}.", nameof(secret));
        }

        int* pipe = stackalloc int[2];
        if (Libc.pipe2(pipe, Libc.O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2 failed: {Libc.Describe(Marshal.GetLastPInvokeError())}.");
        }

        int readEnd = pipe[0];
        int writeEnd = pipe[1];
        try
        {
            SecretDescriptors.WriteAll(writeEnd, secret);
            _ = Libc.close(writeEnd);
            writeEnd = -1;
            return Spawn(readEnd, descriptor, command, arguments);
        }
        finally
        {
            if (writeEnd >= 0)
            {
                _ = Libc.close(writeEnd);
            }

            _ = Libc.close(readEnd);
        }
    }

    /// <summary>
    /// Starts <paramref name="command"/> with <paramref name="readEnd"/> (a pipe the caller filled, or
    /// will) as its descriptor <paramref name="descriptor"/>; the caller closes its copy. Errors as <see cref="Start"/>.
    /// </summary>
    internal static int StartReading(int readEnd, int descriptor, string command, IReadOnlyList<string> arguments)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        ArgumentNullException.ThrowIfNull(arguments);
        if (descriptor is < 0 or > 1023)
        {
            throw new ArgumentOutOfRangeException(nameof(descriptor), descriptor, "The descriptor must be 0–1023.");
        }

        return Spawn(readEnd, descriptor, command, arguments);
    }

    /// <summary>
    /// Waits for child <paramref name="pid"/> (started by <see cref="Start"/>) and returns its exit code,
    /// or 128 + the signal that ended it, as a shell reports it.
    /// </summary>
    public static int WaitForExit(int pid)
    {
        int status;
        while (Libc.waitpid(pid, &status, 0) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.EINTR)
            {
                throw new IOException($"waitpid({pid}) failed: {Libc.Describe(errno)}.");
            }
        }

        int signal = status & 0x7f;
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal;
    }

    private static int Spawn(int readEnd, int descriptor, string command, IReadOnlyList<string> arguments)
    {
        // argv as NUL-terminated UTF-8 strings on the native heap (arguments are not secret).
        var strings = new List<nint>(arguments.Count + 1);
        byte** argv = (byte**)NativeMemory.AllocZeroed((nuint)(arguments.Count + 2), (nuint)sizeof(byte*));
        byte* actions = (byte*)NativeMemory.AllocZeroed(Libc.SpawnStructSize);
        byte* attributes = (byte*)NativeMemory.AllocZeroed(Libc.SpawnStructSize);
        byte* defaults = stackalloc byte[Libc.SigSetSize];
        byte* mask = stackalloc byte[Libc.SigSetSize];
        new Span<byte>(defaults, Libc.SigSetSize).Clear();
        new Span<byte>(mask, Libc.SigSetSize).Clear();
        try
        {
            byte* file = Native(command, strings);
            argv[0] = file;
            for (int i = 0; i < arguments.Count; i++)
            {
                argv[i + 1] = Native(arguments[i], strings);
            }

            // Every catchable signal back to its default (the runtime ignores SIGPIPE, which exec keeps).
            for (int signal = 1; signal < 32; signal++)
            {
                if (signal is not (9 or 19))
                {
                    defaults[(signal - 1) / 8] |= (byte)(1 << ((signal - 1) % 8));
                }
            }

            Check(Libc.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
            Check(Libc.posix_spawnattr_init(attributes), "posix_spawnattr_init");
            // dup2 onto the target clears its close-on-exec flag; the pipe's own descriptor keeps it and closes.
            Check(Libc.posix_spawn_file_actions_adddup2(actions, readEnd, descriptor), "posix_spawn_file_actions_adddup2");
            Check(Libc.posix_spawnattr_setsigdefault(attributes, defaults), "posix_spawnattr_setsigdefault");
            Check(Libc.posix_spawnattr_setsigmask(attributes, mask), "posix_spawnattr_setsigmask");
            Check(Libc.posix_spawnattr_setflags(attributes, Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");

            int pid;
            int error = Libc.posix_spawnp(&pid, file, actions, attributes, argv, Libc.Environ);
            if (error != 0)
            {
                throw error switch
                {
                    Libc.ENOENT => new FileNotFoundException($"Command '{command}' was not found in PATH."),
                    Libc.EACCES => new UnauthorizedAccessException($"Command '{command}' is not executable."),
                    _ => new IOException($"Starting '{command}' failed: {Libc.Describe(error)}."),
                };
            }

            return pid;
        }
        finally
        {
            _ = Libc.posix_spawn_file_actions_destroy(actions);
            _ = Libc.posix_spawnattr_destroy(attributes);
            NativeMemory.Free(actions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(argv);
            foreach (nint s in strings)
            {
                NativeMemory.Free((void*)s);
            }
        }
    }

    private static byte* Native(string value, List<nint> owned)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A command or argument contains a NUL character.", nameof(value));
        }

        int length = Encoding.UTF8.GetByteCount(value);
        byte* native = (byte*)NativeMemory.AllocZeroed((nuint)length + 1);
        owned.Add((nint)native);
        Encoding.UTF8.GetBytes(value, new Span<byte>(native, length));
        return native;
    }

    private static void Check(int error, string call)
    {
        if (error != 0)
        {
            throw new IOException($"{call} failed: {Libc.Describe(error)}.");
        }
    }
}
