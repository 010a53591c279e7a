using System.Text.Encodings.Web;

namespace Berth.Runtime.State;

/// <summary>
/// The escaping for the runtime's own JSON files (state.json): everything but printable ASCII other than '"' and '\'
/// as \uXXXX. Utf8JsonWriter without an encoder uses JavaScriptEncoder.Default, whose static set-up (an allow-list
/// bitmap over the BMP) is a tenth of a millisecond in every `create`; this one needs none. Valid JSON for any reader.
/// </summary>
public sealed class AsciiJsonEncoder : JavaScriptEncoder
{
    public static readonly AsciiJsonEncoder Instance = new();

    private AsciiJsonEncoder() { }

    public override int MaxOutputCharactersPerInputCharacter => 12; // a surrogate pair: \uD83D\uDE00

    public override bool WillEncode(int unicodeScalar) => unicodeScalar is < 0x20 or > 0x7E or '"' or '\\';

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (var i = 0; i < textLength; i++)
            if (WillEncode(text[i])) return i;
        return -1;
    }

    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        for (var i = 0; i < utf8Text.Length; i++)
            if (WillEncode(utf8Text[i])) return i; // any byte of a multi-byte sequence is above 0x7E
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        numberOfCharactersWritten = 0;
        if (unicodeScalar > 0xFFFF)
        {
            if (bufferLength < 12) return false;
            var offset = unicodeScalar - 0x10000;
            Hex(0xD800 + (offset >> 10), buffer);
            Hex(0xDC00 + (offset & 0x3FF), buffer + 6);
            numberOfCharactersWritten = 12;
            return true;
        }
        if (bufferLength < 6) return false;
        Hex(unicodeScalar, buffer);
        numberOfCharactersWritten = 6;
        return true;

        static void Hex(int value, char* into)
        {
            const string digits = "0123456789ABCDEF";
            into[0] = '\\'; into[1] = 'u';
            into[2] = digits[(value >> 12) & 0xF]; into[3] = digits[(value >> 8) & 0xF];
            into[4] = digits[(value >> 4) & 0xF]; into[5] = digits[value & 0xF];
        }
    }
}
