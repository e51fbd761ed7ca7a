/// Splits a SQL script into statements, for running migration files one statement at a time
/// (the extended query protocol accepts only one statement per query).
///
/// Semicolons inside comments (`--`, nested `/* */`), quoted strings (`'…'`, `E'…'`), quoted
/// identifiers (`"…"`) and dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`) do not split.
enum SQLScript {
    static func statements(in script: String) -> [String] {
        let bytes = Array(script.utf8)
        var statements: [String] = []
        var start = 0
        var index = 0
        var hasContent = false

        func flush(upTo end: Int) {
            if hasContent, let text = String(validating: bytes[start..<end], as: UTF8.self) {
                let trimmed = text.trimmingCharacters(in: " \t\r\n")
                if !trimmed.isEmpty { statements.append(trimmed) }
            }
            hasContent = false
        }

        while index < bytes.count {
            let byte = bytes[index]
            let next: UInt8? = index + 1 < bytes.count ? bytes[index + 1] : nil
            switch byte {
            case UInt8(ascii: "-") where next == UInt8(ascii: "-"):
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
                if !hasContent { start = index }
                continue
            case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                var depth = 0
                repeat {
                    if bytes[index] == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*")
                    {
                        depth += 1
                        index += 2
                    } else if bytes[index] == UInt8(ascii: "*"), index + 1 < bytes.count,
                        bytes[index + 1] == UInt8(ascii: "/")
                    {
                        depth -= 1
                        index += 2
                    } else {
                        index += 1
                    }
                } while depth > 0 && index < bytes.count
                if !hasContent { start = index }
                continue
            case UInt8(ascii: "'"):
                let backslashEscapes =
                    index > 0 && (bytes[index - 1] == UInt8(ascii: "E") || bytes[index - 1] == UInt8(ascii: "e"))
                index = skipQuoted(bytes, from: index, quote: UInt8(ascii: "'"), backslashEscapes: backslashEscapes)
                hasContent = true
                continue
            case UInt8(ascii: "\""):
                index = skipQuoted(bytes, from: index, quote: UInt8(ascii: "\""), backslashEscapes: false)
                hasContent = true
                continue
            case UInt8(ascii: "$"):
                if let tagEnd = dollarTagEnd(bytes, from: index) {
                    let tag = Array(bytes[index...tagEnd])
                    index = tagEnd + 1
                    while index < bytes.count, !bytes[index...].starts(with: tag) { index += 1 }
                    index = min(bytes.count, index + tag.count)
                    hasContent = true
                    continue
                }
            case UInt8(ascii: ";"):
                flush(upTo: index)
                start = index + 1
                index += 1
                continue
            default:
                break
            }
            if !hasContent, !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D) {
                hasContent = true
            }
            index += 1
        }
        flush(upTo: bytes.count)
        return statements
    }

    /// Index after the closing quote (doubled quotes stay inside).
    private static func skipQuoted(_ bytes: [UInt8], from start: Int, quote: UInt8, backslashEscapes: Bool) -> Int {
        var index = start + 1
        while index < bytes.count {
            if backslashEscapes, bytes[index] == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if bytes[index] == quote {
                if index + 1 < bytes.count, bytes[index + 1] == quote {
                    index += 2
                    continue
                }
                return index + 1
            }
            index += 1
        }
        return bytes.count
    }

    /// If a dollar-quote tag (`$$` or `$name$`) starts at `start`, the index of its closing `$`.
    private static func dollarTagEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        if start > 0 {
            let previous = bytes[start - 1]
            // `$1` parameters and identifiers containing `$` are not tags.
            if previous == UInt8(ascii: "_")
                || (previous | 0x20 >= UInt8(ascii: "a") && previous | 0x20 <= UInt8(ascii: "z"))
                || (previous >= UInt8(ascii: "0") && previous <= UInt8(ascii: "9"))
            {
                return nil
            }
        }
        var index = start + 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "$") { return index }
            let isLetter = byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z")
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard isLetter || byte == UInt8(ascii: "_") || byte >= 0x80 || (isDigit && index > start + 1) else {
                return nil
            }
            index += 1
        }
        return nil
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set.unicodeScalars)
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !characters.contains($0) }),
            let last = scalars.lastIndex(where: { !characters.contains($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}
