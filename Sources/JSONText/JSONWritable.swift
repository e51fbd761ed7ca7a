/// A value that writes its own JSON form with a ``JSONWriter``: for values encoded on hot paths,
/// where going through `Encodable` and a general encoder costs too much.
public protocol JSONWritable {
    func writeJSON(into json: inout JSONWriter)
}

extension Array: JSONWritable where Element: JSONWritable {
    public func writeJSON(into json: inout JSONWriter) {
        json.beginArray()
        for element in self { element.writeJSON(into: &json) }
        json.endArray()
    }
}
