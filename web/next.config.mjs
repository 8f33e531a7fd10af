// The dashboard is a static export the gateway serves under "/" (one origin, cookie auth).
// `npm run dev` serves it on :3000 and forwards the API to the gateway (API_URL, default :8000).
import { PHASE_DEVELOPMENT_SERVER } from "next/constants.js";

const API_PREFIXES = ["auth", "instances", "billing", "web", "me", "connect.sh", "healthz"];

export default function config(phase) {
  const common = {
    trailingSlash: true,
    reactStrictMode: true,
    poweredByHeader: false,
    images: { unoptimized: true },
  };
  if (phase !== PHASE_DEVELOPMENT_SERVER) return { ...common, output: "export" };
  const api = process.env.API_URL ?? "http://127.0.0.1:8000";
  return {
    ...common,
    skipTrailingSlashRedirect: true,
    async rewrites() {
      return API_PREFIXES.flatMap((prefix) => [
        { source: `/${prefix}`, destination: `${api}/${prefix}` },
        { source: `/${prefix}/:path*`, destination: `${api}/${prefix}/:path*` },
      ]);
    },
  };
}
