import type { Metadata } from "next";
import { CHATKIT_SCRIPT_URL } from "@/lib/settings";
import "./globals.css";

export const metadata: Metadata = {
  title: "Todo assistant",
  description: "Your tasks, with an assistant beside them",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <head>
        {/* Defines the <openai-chatkit> web component that @openai/chatkit-react renders. */}
        <script src={CHATKIT_SCRIPT_URL} async />
      </head>
      <body>{children}</body>
    </html>
  );
}
