import type { NextConfig } from "next";

// A static export (out/): served from S3 + CloudFront, or any static file server locally.
const nextConfig: NextConfig = {
  output: "export",
  reactStrictMode: true,
  images: { unoptimized: true },
};

export default nextConfig;
