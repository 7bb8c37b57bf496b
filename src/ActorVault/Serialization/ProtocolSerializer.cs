using System.Collections.Frozen;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using ActorVault.Memory;
using ActorVault.Protocol;

namespace ActorVault.Serialization;

/// <summary>
/// Hyperion, restricted to ActorVault's own protocol types in both directions. Akka's HOCON
/// <c>allowed-types</c> is not applied on the sending side and <c>HyperionSerializerSetup.WithTypeFilter</c>
/// is ignored (Akka.Serialization.Hyperion 1.5.73), so the filter is passed here, in code, together
/// with <c>disallowUnsafeType</c>; and <see cref="ToBinary"/> refuses any other type before Hyperion runs.
/// </summary>
internal sealed class ProtocolSerializer : HyperionSerializer
{
    public ProtocolSerializer(ExtendedActorSystem system)
        : base(system, RestrictedSettings)
    {
    }

    /// <summary>The constructor Akka calls for a serializer named in HOCON.</summary>
    public ProtocolSerializer(ExtendedActorSystem system, Config config)
        : this(system)
    {
    }

    private static HyperionSerializerSettings RestrictedSettings { get; } = new(
        preserveObjectReferences: false,
        versionTolerance: false,
        knownTypesProvider: typeof(NoKnownTypes),
        packageNameOverrides: [],
        surrogates: [],
        disallowUnsafeType: true,
        typeFilter: ProtocolTypes.Filter);

    public override byte[] ToBinary(object obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        Type type = obj.GetType();
        if (SecretSerialization.IsSecretType(type))
        {
            throw new SecretSerializationException($"{type.Name} holds secret bytes and is never serialized.");
        }

        if (!ProtocolTypes.IsAllowed(type))
        {
            throw new SerializationException($"ActorVault's protocol serializer refuses {type.FullName}: only ActorVault protocol messages cross the vault link.");
        }

        return base.ToBinary(obj);
    }

    public override object FromBinary(byte[] bytes, Type type)
    {
        object result = base.FromBinary(bytes, type);
        if (!ProtocolTypes.IsAllowed(result.GetType()))
        {
            throw new SerializationException($"ActorVault's protocol serializer refuses {result.GetType().FullName}.");
        }

        return result;
    }

    private sealed class NoKnownTypes : IKnownTypesProvider
    {
        public NoKnownTypes(ExtendedActorSystem system)
        {
        }

        public IEnumerable<Type> GetKnownTypes() => [];
    }
}

/// <summary>The allow-list: every type that may appear in a serialized protocol message.</summary>
internal static class ProtocolTypes
{
    private static readonly FrozenSet<Type> Allowed = BuildAllowed();
    private static readonly FrozenSet<string> AllowedNames = Allowed.Select(t => t.FullName!).ToFrozenSet(StringComparer.Ordinal);

    public static Hyperion.ITypeFilter Filter { get; } = new NameFilter();

    public static IReadOnlyCollection<Type> All => Allowed;

    public static bool IsAllowed(Type type) => Allowed.Contains(type);

    /// <summary>Hyperion asks with a (short) assembly-qualified name such as <c>ActorVault.Protocol.Hello, ActorVault</c>.</summary>
    public static bool IsAllowedName(string typeName)
    {
        if (string.IsNullOrEmpty(typeName) || typeName.Length > 512 || typeName.Contains('`', StringComparison.Ordinal))
        {
            return false;
        }

        int comma = typeName.IndexOf(',', StringComparison.Ordinal);
        string name = comma < 0 ? typeName : typeName[..comma];
        string assembly = comma < 0 ? string.Empty : typeName[(comma + 1)..].Split(',')[0].Trim();
        if (!AllowedNames.Contains(name))
        {
            return false;
        }

        return name.StartsWith("ActorVault.", StringComparison.Ordinal)
            ? assembly == "ActorVault"
            : assembly is "" or "mscorlib" or "System.Private.CoreLib";
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The protocol types are this assembly's own, and the native build roots this assembly whole (TrimmerRootAssembly): none is removed.")]
    private static FrozenSet<Type> BuildAllowed()
    {
        var types = new HashSet<Type>
        {
            typeof(string), typeof(string[]), typeof(byte[]), typeof(Guid), typeof(int), typeof(long), typeof(bool),
            typeof(KeystoreInfo), typeof(MemoryInfo), typeof(PublicKeySealed), typeof(SecretSourceKind), typeof(VaultErrorCode),
        };
        foreach (Type t in typeof(IVaultProtocolMessage).Assembly.GetTypes())
        {
            if (t.IsClass && !t.IsAbstract && typeof(IVaultProtocolMessage).IsAssignableFrom(t))
            {
                types.Add(t);
            }
        }

        return types.ToFrozenSet();
    }

    private sealed class NameFilter : Hyperion.ITypeFilter
    {
        public bool IsAllowed(string typeName) => IsAllowedName(typeName);
    }
}
