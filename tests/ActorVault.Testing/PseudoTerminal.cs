using System.Runtime.InteropServices;
using System.Text;
using ActorVault.Memory.Interop;
using Microsoft.Win32.SafeHandles;

namespace ActorVault.Testing;

/// <summary>
/// A pseudo-terminal pair. The test keeps the master: it types with <see cref="Type"/>, reads what the
/// program wrote to its terminal (prompt, and any echo) with <see cref="WaitForOutput"/>, and reads the
/// terminal's modes with <see cref="EchoEnabled"/>. A child gets the slave as its controlling terminal
/// through <c>setsid --ctty</c>.
/// </summary>
public sealed unsafe class PseudoTerminal : IDisposable
{
    private readonly SafeFileHandle _master;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _changed = new(0);
    private readonly Thread _reader;

    /// <summary>Opens a new pair.</summary>
    public PseudoTerminal()
    {
        int fd = Libc.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0 || Libc.grantpt(fd) != 0 || Libc.unlockpt(fd) != 0)
        {
            throw new IOException($"Cannot open a pseudo-terminal: {Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        byte* name = stackalloc byte[128];
        if (Libc.ptsname_r(fd, name, 128) != 0)
        {
            throw new IOException($"ptsname_r failed: {Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        SlavePath = Marshal.PtrToStringUTF8((nint)name)!;
        MasterFd = fd;
        _master = new SafeFileHandle(fd, ownsHandle: true);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "pty-master-reader" };
        _reader.Start();
    }

    /// <summary>Path of the slave side, e.g. /dev/pts/3.</summary>
    public string SlavePath { get; }

    /// <summary>The master's descriptor.</summary>
    public int MasterFd { get; }

    /// <summary>Everything the program wrote to its terminal so far.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="program"/> in a new session with this terminal as its controlling terminal
    /// and as its stdin, stdout and stderr.
    /// </summary>
    public ChildProcess Start(string program, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null)
    {
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>()) { ["AV_PTY"] = SlavePath };
        return ChildProcess.Start(
            "/bin/sh",
            ["-c", "exec /usr/bin/setsid --ctty \"$@\" <\"$AV_PTY\" >\"$AV_PTY\" 2>&1", "sh", program, .. arguments],
            env);
    }

    /// <summary>Types bytes as if at the keyboard.</summary>
    public void Type(ReadOnlySpan<byte> keys)
    {
        fixed (byte* p = keys)
        {
            int done = 0;
            while (done < keys.Length)
            {
                nint n = Libc.write(MasterFd, p + done, (nuint)(keys.Length - done));
                if (n <= 0)
                {
                    throw new IOException($"write to the pty master failed: {Libc.Describe(Marshal.GetLastPInvokeError())}");
                }

                done += (int)n;
            }
        }
    }

    /// <summary>Types text (UTF-8).</summary>
    public void Type(string text) => Type(Encoding.UTF8.GetBytes(text));

    /// <summary>Waits until the terminal output contains <paramref name="text"/>.</summary>
    public void WaitForOutput(string text, TimeSpan? timeout = null)
    {
        if (!WaitUntil(() => Output.Contains(text, StringComparison.Ordinal), timeout))
        {
            throw new TimeoutException($"The terminal never showed '{text}'. It showed:\n{Output}");
        }
    }

    /// <summary>Waits for a complete line starting with <paramref name="prefix"/> on the terminal and returns it.</summary>
    public string WaitForLine(string prefix, TimeSpan? timeout = null)
    {
        string? line = null;
        if (!WaitUntil(() => (line = FindLine(Output, prefix)) is not null, timeout))
        {
            throw new TimeoutException($"The terminal never showed a line starting with '{prefix}'. It showed:\n{Output}");
        }

        return line!;
    }

    private static string? FindLine(string output, string prefix)
    {
        int at = output.IndexOf(prefix, StringComparison.Ordinal);
        int end = at < 0 ? -1 : output.IndexOf('\n', at);
        return end < 0 ? null : output[at..end].TrimEnd('\r');
    }

    /// <summary>Whether ECHO is set in the terminal's modes now (read through the master).</summary>
    public bool EchoEnabled()
    {
        byte* termios = stackalloc byte[Termios.Size];
        if (Libc.tcgetattr(MasterFd, termios) != 0)
        {
            throw new IOException($"tcgetattr on the pty master failed: {Libc.Describe(Marshal.GetLastPInvokeError())}");
        }

        return (*(uint*)(termios + Termios.LFlagOffset) & Termios.ECHO) != 0;
    }

    /// <summary>Waits (polling the terminal modes, with a deadline) until ECHO is <paramref name="expected"/>.</summary>
    public bool WaitForEcho(bool expected, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? ChildProcess.DefaultTimeout);
        while (EchoEnabled() != expected)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            Thread.Sleep(10); // terminal modes raise no event; poll briefly under a generous deadline
        }

        return true;
    }

    /// <summary>Closes the master.</summary>
    public void Dispose()
    {
        _master.Dispose();
        _changed.Dispose();
    }

    private bool WaitUntil(Func<bool> condition, TimeSpan? timeout)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? ChildProcess.DefaultTimeout);
        while (!condition())
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            _changed.Wait(left < TimeSpan.FromMilliseconds(500) ? left : TimeSpan.FromMilliseconds(500));
        }

        return true;
    }

    private void ReadLoop()
    {
        byte[] buffer = new byte[4096];
        while (true)
        {
            nint n;
            fixed (byte* p = buffer)
            {
                n = Libc.read(MasterFd, p, (nuint)buffer.Length);
            }

            if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
            {
                continue;
            }

            if (n <= 0)
            {
                // EIO once no slave is open; keep the master (and its modes) for the test to inspect.
                return;
            }

            lock (_gate)
            {
                _output.Append(Encoding.UTF8.GetString(buffer, 0, (int)n));
            }

            try
            {
                _changed.Release();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }
}
