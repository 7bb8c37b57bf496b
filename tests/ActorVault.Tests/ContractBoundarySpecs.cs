using System.Reflection;
using System.Reflection.Emit;

namespace ActorVault.Tests;

/// <summary>
/// The two sides of the link meet only in the contract (<c>ActorVault.Protocol</c>) and the shared
/// layers below it: no type of the application side (<c>ActorVault.Client</c>, <c>ActorVault.Standalone</c>)
/// uses a type of the vault side (<c>ActorVault.Vault</c>), nor the other way round — in signatures,
/// fields, base types, generic arguments, attributes or method bodies (read from the IL, so compiler
/// generated closures and state machines count too).
/// </summary>
public sealed class ContractBoundarySpecs
{
    /// <summary>The application side: its actors and plumbing, the standalone host, and the public API (the root namespace).</summary>
    private static readonly string[] ApplicationSide = ["ActorVault", "ActorVault.Client", "ActorVault.Standalone"];
    private static readonly string[] VaultSide = ["ActorVault.Vault"];

    /// <summary>
    /// Public types of the contract that keep the root namespace for users' sake (src/ActorVault/Protocol):
    /// both sides write the audit trail in this shape.
    /// </summary>
    private static readonly Type[] SharedVocabulary = [typeof(LeaseAuditEvent), typeof(LeaseAuditKind)];

    [Fact]
    public void NoTypeOfOneSide_ReferencesATypeOfTheOther()
    {
        Assembly assembly = typeof(VaultClient).Assembly;
        var crossings = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Type type in assembly.GetTypes())
        {
            string[]? other = Side(type) switch
            {
                "application" => VaultSide,
                "vault" => ApplicationSide,
                _ => null,
            };
            if (other is null)
            {
                continue;
            }

            foreach (Type used in References(type))
            {
                if (InAny(used, other) && !SharedVocabulary.Contains(used))
                {
                    crossings.Add($"{type.FullName} -> {used.FullName}");
                }
            }
        }

        Assert.True(crossings.Count == 0, "Types that cross the contract:\n" + string.Join('\n', crossings));
    }

    [Fact]
    public void TheScanSeesMethodBodies_SoACrossingWouldBeFound()
    {
        // The scanner itself, on a type known to use others only inside method bodies: VaultRun uses
        // VaultErrors (Protocol) in a body, never in a signature.
        Type run = typeof(VaultClient).Assembly.GetType("ActorVault.Client.VaultRun", throwOnError: true)!;
        Assert.Contains(References(run), t => t.FullName == "ActorVault.Protocol.VaultErrors");
        Type guardian = typeof(VaultClient).Assembly.GetType("ActorVault.Vault.VaultGuardian", throwOnError: true)!;
        Assert.Contains(References(guardian), t => t.FullName == "ActorVault.Vault.KeystoreActor");
    }

    private static string? Side(Type type)
    {
        Type outer = type;
        while (outer.DeclaringType is not null)
        {
            outer = outer.DeclaringType;
        }

        return InAny(outer, ApplicationSide) ? "application" : InAny(outer, VaultSide) ? "vault" : null;
    }

    private static bool InAny(Type type, string[] namespaces)
    {
        Type outer = type;
        while (outer.DeclaringType is not null)
        {
            outer = outer.DeclaringType;
        }

        string ns = outer.Namespace ?? string.Empty;
        return namespaces.Contains(ns, StringComparer.Ordinal);
    }

    private static HashSet<Type> References(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null || !found.Add(t))
            {
                return;
            }

            if (t.HasElementType)
            {
                Add(t.GetElementType());
            }

            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                Add(t.GetGenericTypeDefinition());
                foreach (Type a in t.GetGenericArguments())
                {
                    Add(a);
                }
            }
        }

        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        Add(type.BaseType);
        foreach (Type i in type.GetInterfaces())
        {
            Add(i);
        }

        foreach (CustomAttributeData a in type.CustomAttributes)
        {
            Add(a.AttributeType);
        }

        foreach (FieldInfo f in type.GetFields(all))
        {
            Add(f.FieldType);
        }

        foreach (PropertyInfo p in type.GetProperties(all))
        {
            Add(p.PropertyType);
        }

        foreach (MethodBase m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (m is MethodInfo mi)
            {
                Add(mi.ReturnType);
            }

            foreach (ParameterInfo p in m.GetParameters())
            {
                Add(p.ParameterType);
            }

            foreach (Type t in BodyReferences(m))
            {
                Add(t);
            }
        }

        foreach (Type nested in type.GetNestedTypes(all))
        {
            found.UnionWith(References(nested));
        }

        return found;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Every type a method body names: through its locals and every type, method, field or token operand.</summary>
    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        MethodBody? body = method.GetMethodBody();
        if (body is null)
        {
            yield break;
        }

        foreach (LocalVariableInfo local in body.LocalVariables)
        {
            yield return local.LocalType;
        }

        byte[] il = body.GetILAsByteArray() ?? [];
        Module module = method.Module;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int pos = 0;
        while (pos < il.Length)
        {
            short value = il[pos] == 0xFE ? (short)(0xFE00 | il[pos + 1]) : il[pos];
            pos += il[pos] == 0xFE ? 2 : 1;
            OpCode op = OpCodesByValue[value];
            int operandSize = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, pos)),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineType or OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok)
            {
                MemberInfo? member = null;
                try
                {
                    member = module.ResolveMember(BitConverter.ToInt32(il, pos), typeArgs, methodArgs);
                }
                catch (ArgumentException)
                {
                    // A token of a generic context this scan cannot rebuild; its declaring type is still seen elsewhere.
                }

                switch (member)
                {
                    case Type t:
                        yield return t;
                        break;
                    case FieldInfo f:
                        yield return f.DeclaringType!;
                        yield return f.FieldType;
                        break;
                    case MethodBase m:
                        yield return m.DeclaringType!;
                        if (m is MethodInfo mi)
                        {
                            yield return mi.ReturnType;
                        }

                        break;
                }
            }

            pos += operandSize;
        }
    }
}
