import Foundation
import ParleyChat
import ParleyDomain
import ParleyServer
import Testing

@testable import ParleyTesting

/// The OpenAPI document describes every route the server has, and nothing it does not have.
/// (tests/integration/test_openapi.py validates the document and the answers against it.)
@Suite("OpenAPI: routes")
struct OpenAPIRoutesTests {
    static let documentPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Sources/ParleyServer/OpenAPI/openapi.yaml").path

    /// `METHOD /path` for every operation under `paths:`, following a path item's `$ref` into
    /// `components/pathItems` (the document's own layout: two spaces per level).
    static func documentedOperations(_ text: String) -> Set<String> {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let methods = ["get", "post", "put", "patch", "delete"]
        func operations(under start: Int, indent: Int) -> [String] {
            var found: [String] = []
            var index = start + 1
            while index < lines.count {
                let line = lines[index]
                let depth = line.prefix { $0 == " " }.count
                if !line.trimmingCharacters(in: .whitespaces).isEmpty, depth < indent { break }
                if depth == indent,
                    let method = methods.first(where: {
                        line.hasPrefix(String(repeating: " ", count: indent) + $0 + ":")
                    })
                {
                    found.append(method.uppercased())
                }
                index += 1
            }
            return found
        }
        var result: Set<String> = []
        var inPaths = false
        for (index, line) in lines.enumerated() {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.isEmpty, !line.hasPrefix(" ") { break }
            guard inPaths, line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") else { continue }
            let path = String(line.dropFirst(2).dropLast())
            var found = operations(under: index, indent: 4)
            if index + 1 < lines.count, lines[index + 1].contains("$ref: \"#/components/pathItems/") {
                let name = lines[index + 1].split(separator: "/").last!.replacingOccurrences(of: "\"", with: "")
                if let item = lines.firstIndex(of: "    \(name):") { found = operations(under: item, indent: 6) }
            }
            for method in found { result.insert("\(method) \(normalized(path))") }
        }
        return result
    }

    static func normalized(_ path: String) -> String {
        path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let text = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        let documented = Self.documentedOperations(text)
        #expect(documented.count > 15)
        try await withApp(.sqlite, configuration: ["METRICS_TOKEN": "a-metrics-token-for-tests"]) { api in
            let routes = Set(
                api.components.routes.map { route -> String in
                    let parts = route.split(separator: " ", maxSplits: 1)
                    return "\(parts[0]) \(Self.normalized(String(parts[1])))"
                })
            #expect(routes.count > 15)
            // HEAD is implicit wherever GET is; the Engine.IO endpoint answers every method as
            // its protocol says, and the document names the two its clients use.
            let implicit = routes.filter {
                $0.hasPrefix("HEAD ")
                    || ($0.hasSuffix(" /socket.io") && !$0.hasPrefix("GET ") && !$0.hasPrefix("POST "))
            }
            #expect(routes.subtracting(implicit).subtracting(documented).isEmpty, "routes missing from openapi.yaml")
            // Served by a middleware, not a route: local images.
            #expect(documented.subtracting(routes) == ["GET /uploads/{file}"], "documented but not served")
        }
    }
}
