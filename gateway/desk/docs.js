// The API explorer: the vendored Swagger UI over this server's /openapi.json (nothing fetched elsewhere).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  supportedSubmitMethods: [],  // reading only: requests must be signed (see the description)
});
