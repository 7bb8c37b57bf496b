using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using ActorVault.Memory.Interop;

namespace ActorVault.Memory.Readers;

/// <summary>
/// Reads a secret from the controlling terminal (<c>/dev/tty</c>) with echo off, in non-canonical mode
/// so that editing happens in secret memory: Backspace/DEL erases one (UTF-8) character, Ctrl-U erases
/// the line, Enter ends, Ctrl-D on an empty line ends with "empty". Ctrl-C and other signals keep their
/// meaning (ISIG stays on). The terminal's modes are restored on every exit path: return, error,
/// SIGINT/SIGTERM/SIGHUP/SIGQUIT (which also interrupt the read) and SIGTSTP; no-echo is re-applied
/// after SIGCONT.
/// </summary>
internal static unsafe class TerminalSecretReader
{
    private const byte Backspace = 0x08;
    private const byte Delete = 0x7F;
    private const byte KillLine = 0x15; // Ctrl-U
    private const byte EndOfFile = 0x04; // Ctrl-D

    internal static SecretBuffer Read(SecretReadOptions options, CancellationToken cancellationToken)
    {
        options.Validate();
        int tty = Libc.open("/dev/tty", Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
        if (tty < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new SecretInputException(
                SecretInputError.NoTerminal,
                $"No terminal to prompt on (/dev/tty: {Libc.Describe(errno)}); pipe the secret on standard input or read it from a file instead.");
        }

        using var session = new TerminalSession(tty);
        try
        {
            session.EnterNoEcho();
            session.WriteText(options.Prompt);
            using CancellationTokenRegistration registration = cancellationToken.Register(static s => ((TerminalSession)s!).Wake("cancelled"), session);
            return ReadLine(session, options);
        }
        finally
        {
            session.Restore();
            session.WriteText("\n");
        }
    }

    private static SecretBuffer ReadLine(TerminalSession session, SecretReadOptions options)
    {
        int capacity = options.MaxBytes + 1;
        SecretBuffer buffer = SecretMemory.Allocate(capacity);
        bool ok = false;
        try
        {
            int length;
            using (SecretBuffer.Scope scope = buffer.Open())
            {
                length = Edit(session, scope.WholeCapacity, options);
            }

            if (length == 0)
            {
                throw new SecretInputException(SecretInputError.Empty, "The secret typed at the terminal is empty.");
            }

            buffer.Truncate(length);
            ok = true;
            return buffer;
        }
        finally
        {
            if (!ok)
            {
                buffer.Dispose();
            }
        }
    }

    /// <summary>Reads and edits in place; returns the length. Bytes past the result are zeroed.</summary>
    private static int Edit(TerminalSession session, Span<byte> line, SecretReadOptions options)
    {
        int kept = 0;
        int read = 0;
        fixed (byte* start = line)
        {
            try
            {
                while (true)
                {
                    if (read >= line.Length)
                    {
                        throw new SecretInputException(SecretInputError.TooLong, $"The secret typed at the terminal is longer than the maximum of {options.MaxBytes} bytes; nothing was kept.");
                    }

                    int n = session.ReadSome(start + read, line.Length - read);
                    int end = read + n;
                    for (int i = read; i < end; i++)
                    {
                        byte b = start[i];
                        switch (b)
                        {
                            case (byte)'\r' or (byte)'\n':
                                line[kept..].Clear();
                                if (kept > options.MaxBytes)
                                {
                                    throw new SecretInputException(SecretInputError.TooLong, $"The secret typed at the terminal is longer than the maximum of {options.MaxBytes} bytes; nothing was kept.");
                                }

                                return kept;
                            case Backspace or Delete:
                                while (kept > 0 && (start[kept - 1] & 0xC0) == 0x80)
                                {
                                    kept--;
                                }

                                if (kept > 0)
                                {
                                    kept--;
                                }

                                break;
                            case KillLine:
                                kept = 0;
                                break;
                            case EndOfFile:
                                if (kept == 0)
                                {
                                    line.Clear();
                                    return 0;
                                }

                                break;
                            case < 0x20 and not (byte)'\t':
                                break; // other control characters (escape sequences) are not part of a secret
                            default:
                                start[kept++] = b;
                                break;
                        }
                    }

                    read = kept;
                    line[kept..end].Clear();
                }
            }
            catch
            {
                CryptographicOperations.ZeroMemory(line);
                throw;
            }
        }
    }

    /// <summary>The terminal's saved modes, the wake-up pipe, and the signal registrations of one read.</summary>
    private sealed class TerminalSession : IDisposable
    {
        private readonly int _tty;
        private readonly byte* _saved;
        private readonly byte* _noEcho;
        private readonly WakePipe _wake;
        private readonly List<PosixSignalRegistration> _signals = [];
        private readonly Lock _gate = new();
        private bool _modesChanged;
        private bool _closed;

        internal TerminalSession(int tty)
        {
            _tty = tty;
            _saved = (byte*)NativeMemory.AllocZeroed(Termios.Size);
            _noEcho = (byte*)NativeMemory.AllocZeroed(Termios.Size);
            try
            {
                _wake = new WakePipe();
            }
            catch
            {
                NativeMemory.Free(_saved);
                NativeMemory.Free(_noEcho);
                _ = Libc.close(_tty);
                throw;
            }
        }

        internal void EnterNoEcho()
        {
            if (Libc.tcgetattr(_tty, _saved) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new SecretInputException(SecretInputError.NoTerminal, $"/dev/tty is not a usable terminal: {Libc.Describe(errno)}.");
            }

            Buffer.MemoryCopy(_saved, _noEcho, Termios.Size, Termios.Size);
            uint* lflag = (uint*)(_noEcho + Termios.LFlagOffset);
            *lflag &= ~(Termios.ECHO | Termios.ECHOE | Termios.ECHOK | Termios.ECHONL | Termios.ICANON);
            _noEcho[Termios.CcOffset + Termios.VMIN] = 1;
            _noEcho[Termios.CcOffset + Termios.VTIME] = 0;

            foreach (PosixSignal signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
            {
                _signals.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    // Restore first: the default action that follows may end the process.
                    Restore();
                    Wake(context.Signal.ToString());
                }));
            }

            _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTSTP, _ => Restore()));
            _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGCONT, context =>
            {
                // Cancel: the runtime's own SIGCONT action re-applies the modes it saved, with echo on.
                context.Cancel = true;
                ApplyNoEcho();
            }));
            ApplyNoEcho();
        }

        internal void ApplyNoEcho()
        {
            lock (_gate)
            {
                if (_closed || _wake.Reason is not null)
                {
                    return;
                }

                if (Libc.tcsetattr(_tty, Termios.TCSAFLUSH, _noEcho) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    throw new SecretInputException(SecretInputError.TerminalClosed, $"Cannot turn terminal echo off: {Libc.Describe(errno)}.");
                }

                _modesChanged = true;
            }
        }

        internal void Restore()
        {
            lock (_gate)
            {
                if (_modesChanged && !_closed)
                {
                    // TCSAFLUSH also discards whatever was typed but not read (e.g. after "too long").
                    _ = Libc.tcsetattr(_tty, Termios.TCSAFLUSH, _saved);
                    _modesChanged = false;
                }
            }
        }

        internal void Wake(string reason) => _wake.Wake(reason);

        internal void WriteText(string text)
        {
            // The prompt is not secret.
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            fixed (byte* p = bytes)
            {
                _ = Libc.write(_tty, p, (nuint)bytes.Length);
            }
        }

        /// <summary>Waits for input or a wake-up; returns the count read (≥ 1) or throws.</summary>
        internal int ReadSome(byte* target, int count)
        {
            while (true)
            {
                short events = _wake.WaitReadable(_tty, "the terminal");

                if ((events & Libc.POLLIN) != 0)
                {
                    nint n = Libc.read(_tty, target, (nuint)count);
                    if (n > 0)
                    {
                        return (int)n;
                    }

                    int errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
                    if (n < 0 && (errno == Libc.EINTR || errno == Libc.EAGAIN))
                    {
                        continue;
                    }

                    throw new SecretInputException(SecretInputError.TerminalClosed, n == 0
                        ? "The terminal closed before the secret was entered; nothing was kept."
                        : $"The terminal failed while reading the secret ({Libc.Describe(errno)}); nothing was kept.");
                }

                if ((events & (Libc.POLLHUP | Libc.POLLERR | Libc.POLLNVAL)) != 0)
                {
                    throw new SecretInputException(SecretInputError.TerminalClosed, "The terminal hung up before the secret was entered; nothing was kept.");
                }
            }
        }

        public void Dispose()
        {
            foreach (PosixSignalRegistration registration in _signals)
            {
                registration.Dispose();
            }

            lock (_gate)
            {
                _closed = true;
                _ = Libc.close(_tty);
                _wake.Dispose();

                NativeMemory.Free(_saved);
                NativeMemory.Free(_noEcho);
            }
        }
    }
}
