// Starts Swagger UI on /openapi.json (kept out of the page: no inline script under the CSP).
window.ui = window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
