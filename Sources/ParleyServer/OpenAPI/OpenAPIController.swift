import Hummingbird

/// `GET /openapi.yaml`: the OpenAPI 3.1 description of the HTTP API, as built into the binary
/// (the repository's `Sources/ParleyServer/OpenAPI/openapi.yaml`; a test keeps it in step with
/// the routes and the answers).
struct OpenAPIController {
    static let document = ByteBuffer(bytes: PackageResources.openapi_yaml)

    func addRoutes(to router: Router<ParleyRequestContext>) {
        router.get("openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: ResponseBody(byteBuffer: Self.document)
            )
        }
    }
}
